@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Several named engines on one Berth: pages and actions under `/engines/NAME`, each engine's own roles in the central
/// check, its name in the audit trail, and the overview across all of them with a deadline per engine.
///
/// `prod` is the test engine again under another name, with its own groups (the test viewers operate it, the test
/// operators only look at it); `dev` gives the test viewers and operators no role at all; `down` has no socket.
@Suite struct EngineScopeTests {
    static func engines(_ configuration: inout AppConfiguration, engine: EngineAddress, extra: [EngineDefinition] = []) {
        configuration.engines = [
            EngineDefinition(
                name: "prod", address: engine,
                groups: EngineGroups(operator: TestUsers.viewerGroup, viewer: TestUsers.operatorGroup)
            ),
            EngineDefinition(name: "dev", address: engine, groups: EngineGroups(operator: "bt-nobody", viewer: "bt-nobody")),
        ] + extra
    }

    @Test func eachEngineHasItsURLsItsRolesAndItsRows() async throws {
        let address = try TestEngine.address()
        try await TestEngine.withContainers { engine, scope in
            let name = TestEngine.uniqueName("scoped")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            try await withTestApp(configure: { Self.engines(&$0, engine: address) }) { client, app in
                let viewer = try await signIn(client, as: "bt-viewer")

                // prod's list links into prod; the header offers the engines the user has a role on, with that role.
                let list = try await client.execute(uri: "/engines/prod/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(list.status == .ok)
                #expect(list.text.contains("href=\"/engines/prod/containers/\(id)\""))
                #expect(list.text.contains("Engine <strong>prod</strong>"))
                #expect(list.text.contains("href=\"/engines/prod/containers\" aria-current=\"page\">prod</a> <span class=\"role role-operator\">operator</span>"))
                #expect(list.text.contains("href=\"/engines/local/containers\">local</a> <span class=\"role role-viewer\">viewer</span>"))
                #expect(!list.text.contains("/engines/dev/"), "dev gives bt-viewer no role: not offered")
                // The same user is a viewer at local's plain paths: no bulk form there.
                let local = try await client.execute(uri: "/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(local.text.contains("href=\"/containers/\(id)\""))
                #expect(!local.text.contains("action=\"/containers/bulk\""))
                #expect(list.text.contains("action=\"/engines/prod/containers/bulk\""))

                // An operator of prod acts there; the redirect stays on prod; the row names prod and the role there.
                let stop = try await post(client, viewer, "/engines/prod/containers/\(id)/stop", [("timeout", "0")])
                #expect(stop.status == .seeOther)
                #expect(stop.headers[.location] == "/engines/prod/containers/\(id)")
                #expect(try await flash(after: stop, client, viewer) == "Stopped \(name).")
                #expect(try await engine.inspectContainer(id).state?.running == false)

                // …but not on local, nor on dev, where they have no role (dev is not even shown).
                let start = try await post(client, viewer, "/containers/\(id)/start")
                #expect(start.status == .forbidden)
                let devStart = try await post(client, viewer, "/engines/dev/containers/\(id)/start")
                #expect(devStart.status == .notFound)
                let devPage = try await client.execute(uri: "/engines/dev/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(devPage.status == .notFound)
                #expect(try await engine.inspectContainer(id).state?.running == false)
                let unknown = try await client.execute(uri: "/engines/nope/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(unknown.status == .notFound)
                #expect(unknown.text.contains("no engine named “nope” that you may use"))
                #expect(devPage.text.contains("no engine named “dev” that you may use"), "the same words as for one that does not exist")

                let rows = try await app.auditEvents()
                let stopRow = try #require(rows.first { $0.action == "container.stop" })
                #expect(stopRow.engine == "prod" && stopRow.role == "operator" && stopRow.outcome == .ok)
                let refused = rows.filter { $0.action == "container.start" && $0.outcome == .denied }
                #expect(Set(refused.compactMap(\.engine)) == ["local", "dev"], "\(refused.map { $0.engine ?? "-" })")

                // An operator of local only looks at prod.
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let operatorStart = try await post(client, operatorBrowser, "/engines/prod/containers/\(id)/start")
                #expect(operatorStart.status == .forbidden)
                let localStart = try await post(client, operatorBrowser, "/containers/\(id)/start")
                #expect(localStart.status == .seeOther)
                #expect(try await engine.inspectContainer(id).state?.running == true)

                // The audit page filters by engine (an admin's view of everyone's rows).
                let admin = try await signIn(client, as: "bt-admin")
                let audit = try await client.execute(uri: "/audit?engine=prod", method: .get, headers: [.cookie: admin.cookie])
                #expect(audit.text.contains("<option value=\"prod\" selected>prod</option>"))
                #expect(audit.text.contains("<code>container.stop</code>"))
                #expect(audit.text.contains("on prod"))
                #expect(!audit.text.contains("on local") && !audit.text.contains("on dev"), "only prod's rows")
                #expect(audit.text.contains("href=\"/engines/prod/containers/\(id)\""))
            }
        }
    }

    @Test func theOverviewAsksEveryEngineInParallelAndWaitsForNoneLongerThanItsTimeout() async throws {
        let address = try TestEngine.address()
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A fake engine, for the one fault a running daemon can't be made to show without stopping it for every other
        // test: a socket that takes connections and never answers.
        let stalled = directory.appendingPathComponent("stalled.sock").path
        let listener = try Self.silentListener(at: stalled)
        defer { close(listener) }
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("overview")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            try await withTestApp(configure: {
                Self.engines(&$0, engine: address, extra: [
                    EngineDefinition(name: "down", address: .unix(path: directory.appendingPathComponent("none.sock").path)),
                    EngineDefinition(name: "stalled", address: .unix(path: stalled)),
                ])
                $0.engineTimeout = 6
            }) { client, _ in
                let viewer = try await signIn(client, as: "bt-viewer")
                let started = ContinuousClock.now
                let overview = try await client.execute(uri: "/?name=\(name)", method: .get, headers: [.cookie: viewer.cookie])
                let took = ContinuousClock.now - started
                #expect(overview.status == .ok)
                // Cut at the timeout, not at the transport's own deadline (60 s). Its bound, timeout + 10 %, is measured
                // in bench/engines; beside two hundred other suites on two cores a page takes seconds more, and even
                // the healthy engine's list has taken over 2 s there (hence a timeout of 6 s).
                #expect(took < .seconds(20), "the stalled engine held the page \(took)")
                #expect(took >= .seconds(6), "the stalled engine was waited for up to its timeout: \(took)")
                let text = overview.text
                for engine in ["local", "prod", "down", "stalled"] { #expect(text.contains("data-engine=\"\(engine)\""), "\(engine) listed") }
                #expect(!text.contains("data-engine=\"dev\""), "no role on dev: not listed")
                #expect(text.contains("No answer within 6 s."))
                #expect(text.contains("2 of the engines did not answer"))
                // The same container, on local and on prod (the same daemon under two names), each row linking to its engine.
                #expect(text.contains("href=\"/engines/local/containers/\(id)\""))
                #expect(text.contains("href=\"/engines/prod/containers/\(id)\""))
                #expect(text.contains("2 shown, 2 running"))

                // The down engine's own pages answer at once with the engine banner; the others are not slowed.
                let downStarted = ContinuousClock.now
                let down = try await client.execute(uri: "/engines/down/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(down.status == .serviceUnavailable)
                // Loose bounds: this suite runs beside two hundred others (ThreeEngineTests, in a turn of its own, holds
                // the other engines' pages to a second with one stalled).
                #expect(ContinuousClock.now - downStarted < .seconds(3))
                let prodStarted = ContinuousClock.now
                let prod = try await client.execute(uri: "/engines/prod/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(prod.status == .ok)
                #expect(ContinuousClock.now - prodStarted < .seconds(5))
            }
        }
    }

    @Test func theEventsOfAllEnginesArriveInOneStreamEachNamingItsEngine() async throws {
        let address = try TestEngine.address()
        try await TestEngine.withContainers { _, scope in
            try await withLiveStreamApp(configure: { Self.engines(&$0, engine: address) }) { live in
                let viewer = try await signIn(live.client, as: "bt-viewer")
                let page = try await live.client.execute(uri: "/events/all", method: .get, headers: [.cookie: viewer.cookie])
                #expect(page.text.contains("data-stream=\"/events/all/stream\""))
                let events = try await live.open("/events/all/stream?type=container&action=create", as: viewer)
                defer { events.close() }
                // Both shared upstreams (local and prod) are joined before the container is made.
                #expect(await eventually(.seconds(5)) { live.streams.engines.all.filter { $0.events.activeTopics == 1 }.count == 2 })
                let name = TestEngine.uniqueName("all-events")
                let id = try await scope.busybox(["true"], name: name)
                var engines: Set<String> = []
                while engines.count < 2, let event = await events.next("event", timeout: .seconds(10)) {
                    guard event.found.json?["id"] as? String == id else { continue }
                    #expect(event.found.json?["action"] as? String == "create")
                    engines.insert(event.found.json?["engine"] as? String ?? "none")
                }
                // The same daemon under two names: once as each; never as dev, where bt-viewer has no role.
                #expect(engines == ["local", "prod"])
                #expect(live.streams.engines.named("dev")?.events.activeTopics == 0)
            }
        }
    }

    /// A dashboard across engines: only engines one operates can be chosen (and previewed); its table, stream and
    /// container pages name each row's engine; its share link shows what it selects on each engine, whoever watches;
    /// an engine that is down or gone is named while the others' rows still show.
    @Test func aDashboardSpansTheEnginesItsOwnerOperatesAndItsLinkShowsExactlyThat() async throws {
        let address = try TestEngine.address()
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("across")
            let id = try await scope.busybox(["sh", "-c", "echo across-engines; sleep 300"], name: name)
            let short = String(id.prefix(12))
            try await withLiveStreamApp(configure: {
                Self.engines(&$0, engine: address, extra: [
                    EngineDefinition(name: "down", address: .unix(path: directory.appendingPathComponent("none.sock").path)),
                ])
            }) { live in
                let client = live.client
                // bt-operator operates local, only views prod, and has no role on dev.
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let editor = try await client.execute(uri: "/dashboards/new", method: .get, headers: [.cookie: operatorBrowser.cookie])
                #expect(editor.text.contains("name=\"engine\" value=\"local\""))
                #expect(!editor.text.contains("value=\"prod\"") && !editor.text.contains("value=\"dev\""), "only engines they operate")
                for (engine, words) in [("prod", "operate the engine prod: only its operators"), ("dev", "no engine named “dev” that you may use")] {
                    let refused = try await post(client, operatorBrowser, "/dashboards", [
                        ("title", "Across"), ("kind", "names"), ("selection", name), ("showStatus", "on"),
                        ("engines", "1"), ("engine", "local"), ("engine", engine),
                    ])
                    #expect(refused.status == .unprocessableContent)
                    #expect(refused.text.contains(words), "\(engine): \(refused.text)")
                    // The preview asks no engine the user may not choose from: no names to probe.
                    let preview = try await client.execute(
                        uri: "/dashboards/preview?kind=names&selection=\(name)&engine=\(engine)", method: .get, headers: [.cookie: operatorBrowser.cookie]
                    )
                    #expect(preview.text.contains("\"matches\":[]") && preview.text.contains(words), "\(preview.text)")
                }
                let none = try await post(client, operatorBrowser, "/dashboards", [
                    ("title", "Nowhere"), ("kind", "names"), ("selection", name), ("showStatus", "on"), ("engines", "1"),
                ])
                #expect(none.text.contains("Choose at least one engine."))

                // An admin puts local, prod and down on one dashboard (the same daemon twice, and one with no socket).
                let admin = try await signIn(client, as: "bt-admin")
                let preview = try await client.execute(
                    uri: "/dashboards/preview?kind=names&selection=\(name)&engine=local&engine=prod", method: .get, headers: [.cookie: admin.cookie]
                )
                let matches = try #require((try JSONSerialization.jsonObject(with: Data(preview.text.utf8)) as? [String: Any])?["matches"] as? [[String: Any]])
                #expect(matches.compactMap { $0["engine"] as? String } == ["local", "prod"])
                let dashboard = try await createDashboard(client, admin, [
                    ("title", "Across \(name)"), ("kind", "names"), ("selection", name), ("showStatus", "on"), ("showEvents", "on"),
                    ("showLogs", "on"), ("sharedWithAll", "on"), ("engines", "1"), ("engine", "local"), ("engine", "prod"), ("engine", "down"),
                ])
                let rows = try await live.app.auditEvents().filter { $0.action == "dashboard.create" && $0.outcome == .ok }
                #expect(rows.last?.parameters?.contains("\"engines\":\"local,prod,down\"") == true, "\(rows.last?.parameters ?? "")")

                // bt-viewer makes no dashboards and has no role on dev; the dashboard's sharing decides who watches it.
                let viewer = try await signIn(client, as: "bt-viewer")
                let page = try await client.execute(uri: "/dashboards/\(dashboard)", method: .get, headers: [.cookie: viewer.cookie])
                #expect(page.status == .ok, "one engine down: the others' rows still show")
                #expect(page.text.contains("data-engines=\"local,prod,down\""))
                #expect(page.text.contains("on the engines local, prod, down"))
                for engine in ["local", "prod"] {
                    #expect(page.text.contains("<tr data-engine=\"\(engine)\" data-container=\"\(short)\">"), "\(engine)'s row")
                    #expect(page.text.contains("href=\"/dashboards/\(dashboard)/containers/\(short)?engine&#61;\(engine)\"")
                        || page.text.contains("href=\"/dashboards/\(dashboard)/containers/\(short)?engine=\(engine)\""), "\(engine)'s link")
                }
                #expect(page.text.contains("The engine down can&#39;t be reached"), "the down engine named")

                // A container page on the engine the link names; one that isn't on the dashboard's engines is not there.
                let onProd = try await client.execute(
                    uri: "/dashboards/\(dashboard)/containers/\(short)?engine=prod", method: .get, headers: [.cookie: viewer.cookie]
                )
                #expect(onProd.status == .ok)
                #expect(onProd.text.contains("<dt>Engine</dt><dd>prod</dd>"))
                let onDev = try await client.execute(
                    uri: "/dashboards/\(dashboard)/containers/\(short)?engine=dev", method: .get, headers: [.cookie: viewer.cookie]
                )
                #expect(onDev.status == .notFound)

                // Through a share link: the stream sends each engine's rows and names the one that is down.
                let token = try await createLink(client, admin, dashboard: dashboard, expiresIn: 3600)
                let cookie = try await exchange(client, token: token, dashboard: dashboard)
                let watcher = Browser(cookie: cookie, csrfToken: "")
                let stream = try await live.open("/shared/\(dashboard)/stream", as: watcher)
                defer { stream.close() }
                var tables: [String: [String]] = [:]
                var down: String?
                let deadline = ContinuousClock.now + .seconds(20)
                while tables.count < 2 || down == nil, ContinuousClock.now < deadline {
                    guard let event = await stream.next(timeout: deadline - ContinuousClock.now) else { break }
                    if event.event == "containers", let engine = event.json?["engine"] as? String {
                        tables[engine] = containerNames(event)
                        for row in (event.json?["containers"] as? [[String: Any]]) ?? [] {
                            #expect(row["engine"] as? String == engine && row["engineQuery"] as? String == "?engine=\(engine)")
                        }
                    }
                    if event.event == "engine", event.json?["engine"] as? String == "down" { down = event.json?["message"] as? String }
                }
                #expect(tables == ["local": [name], "prod": [name]])
                #expect(down?.contains("down") == true, "\(down ?? "no engine message")")
                #expect(down?.contains("none.sock") == false, "a link viewer is not told the engine's address: \(down ?? "")")
                // The logs of a row on prod, through the link.
                let logs = try await live.open("/shared/\(dashboard)/containers/\(short)/logs/stream?tail=10&engine=prod", as: watcher)
                let (lines, _) = await collectLines(logs) { seen in seen.contains { $0.text.contains("across-engines") } }
                logs.close()
                #expect(lines.contains { $0.text.contains("across-engines") })
                let logRow = try await live.app.auditEvents().last { $0.action == "dashboard.logs" && $0.outcome == .ok }
                #expect(logRow?.parameters?.contains("\"engine\":\"prod\"") == true, "\(logRow?.parameters ?? "")")
            }
        }
    }

    /// A dashboard shows an engine's containers only while its owner operates that engine; an admin kept out of an
    /// engine by its own groups does not see (or change) dashboards of it; a dashboard whose engines are all gone
    /// says so and keeps its page open rather than reconnecting.
    @Test func aDashboardShowsOnlyWhatItsOwnerStillOperates() async throws {
        let address = try TestEngine.address()
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("withheld")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            try await withLiveStreamApp(configure: {
                Self.engines(&$0, engine: address, extra: [
                    EngineDefinition(name: "sealed", address: address, groups: EngineGroups(admin: "bt-nobody", operator: "bt-nobody", viewer: "bt-nobody")),
                ])
            }) { live in
                let client = live.client
                let database = try AppDatabase.open(path: live.app.configuration.databasePath)
                // Made while bt-operator operated prod (say); today prod's groups make them a viewer there.
                let lost = try await database.createDashboard(DashboardRecord(
                    owner: "bt-operator", title: "Lost \(name)", selectionKind: "names", selectionValues: [name], engines: ["local", "prod"],
                    sharedWithAll: true
                ))
                let viewer = try await signIn(client, as: "bt-viewer")
                let page = try await client.execute(uri: "/dashboards/\(lost.id!)", method: .get, headers: [.cookie: viewer.cookie])
                #expect(page.status == .ok)
                #expect(page.text.contains("<tr data-engine=\"local\" data-container=\"\(id.prefix(12))\">"))
                #expect(!page.text.contains("<tr data-engine=\"prod\""), "prod's part withheld")
                #expect(page.text.contains("Its owner, bt-operator, no longer operates the engine prod"))
                let onProd = try await client.execute(uri: "/dashboards/\(lost.id!)/containers/\(id.prefix(12))?engine=prod", method: .get, headers: [.cookie: viewer.cookie])
                #expect(onProd.status == .notFound)
                let stream = try await live.open("/dashboards/\(lost.id!)/stream", as: viewer)
                var parts: [String: [String]] = [:]
                var withheld: String?
                while parts.count < 2 || withheld == nil, let event = await stream.next(timeout: .seconds(10)) {
                    if event.event == "containers", let engine = event.json?["engine"] as? String { parts[engine] = containerNames(event) }
                    if event.event == "engine", event.json?["engine"] as? String == "prod" { withheld = event.json?["message"] as? String }
                }
                stream.close()
                #expect(parts == ["local": [name], "prod": []])
                #expect(withheld?.contains("no longer operates the engine prod") == true)

                // An admin whom sealed's groups keep out: its dashboards are not theirs to see or change.
                let sealed = try await database.createDashboard(DashboardRecord(
                    owner: "bt-operator", title: "Sealed \(name)", selectionKind: "names", selectionValues: [name], engines: ["sealed"]
                ))
                let admin = try await signIn(client, as: "bt-admin")
                let hidden = try await client.execute(uri: "/dashboards/\(sealed.id!)", method: .get, headers: [.cookie: admin.cookie])
                #expect(hidden.status == .notFound)
                let edit = try await client.execute(uri: "/dashboards/\(sealed.id!)/edit", method: .get, headers: [.cookie: admin.cookie])
                #expect(edit.status == .notFound)
                let list = try await client.execute(uri: "/dashboards", method: .get, headers: [.cookie: admin.cookie])
                #expect(!list.text.contains("Sealed \(name)") && list.text.contains("Lost \(name)"))

                // Every engine gone: the page says so (503), its stream stays open with the reason instead of ending.
                let gone = try await database.createDashboard(DashboardRecord(
                    owner: "bt-admin", title: "Gone \(name)", selectionKind: "names", selectionValues: [name], engines: ["retired"]
                ))
                let gonePage = try await client.execute(uri: "/dashboards/\(gone.id!)", method: .get, headers: [.cookie: admin.cookie])
                #expect(gonePage.status == .serviceUnavailable)
                #expect(gonePage.text.contains("Berth knows no engine named “retired” any more."))
                let goneStream = try await live.open("/dashboards/\(gone.id!)/stream", as: admin)
                defer { goneStream.close() }
                let told = try #require(await goneStream.next("engine", timeout: .seconds(5)))
                #expect((told.found.json?["message"] as? String)?.contains("retired") == true)
                #expect(await goneStream.next("end", timeout: .seconds(2)) == nil, "the stream stays open")
            }
        }
    }

    @Test func withOneEngineTheRootIsItsContainerList() async throws {
        // (And with several that all answer, the overview has no banner: see ThreeEngineTests.)
        try await withTestApp { client, _ in
            let viewer = try await signIn(client, as: "bt-viewer")
            let root = try await client.execute(uri: "/", method: .get, headers: [.cookie: viewer.cookie])
            #expect(root.status == .found)
            #expect(root.headers[.location] == "/containers")
            let list = try await client.execute(uri: "/containers", method: .get, headers: [.cookie: viewer.cookie])
            #expect(!list.text.contains("class=\"engines\""), "no switcher with one engine")
            // The engine's own prefix works for local too.
            let prefixed = try await client.execute(uri: "/engines/local/containers", method: .get, headers: [.cookie: viewer.cookie])
            #expect(prefixed.status == .ok)
        }
    }

    /// A Unix socket that accepts (the kernel queues the connections) and never reads or answers.
    static func silentListener(at path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSetupError("socket() failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw TestSetupError("cannot listen at \(path)")
        }
        return descriptor
    }
}
