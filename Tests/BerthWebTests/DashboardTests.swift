@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TestSupport

/// Shared read-only dashboards and their share links, on the real engine with real PAM users.
@Suite struct DashboardTests {
    // MARK: Selection and visibility

    @Test func aLabelSelectionShowsExactlyTheMatchingContainersAndTeammatesSeeItReadOnly() async throws {
        try await TestEngine.withContainers { engine, scope in
            let tag = UUID().uuidString.prefix(8).lowercased()
            let first = TestEngine.uniqueName("dash-a")
            let second = TestEngine.uniqueName("dash-b")
            let other = TestEngine.uniqueName("dash-other")
            try await scope.busybox(["sleep", "60"], name: first, labels: ["berth.test.dash": String(tag)])
            try await scope.busybox(["sleep", "60"], name: second, labels: ["berth.test.dash": String(tag)], start: false)
            try await scope.busybox(["sleep", "60"], name: other, labels: ["berth.test.dash": "someone-else"])
            let routes = NIOLockedValueBox<RouteTable?>(nil)
            try await withTestApp(extraRoutes: { built in routes.withLockedValue { $0 = built.table } }) { client, app in
                let owner = try await signIn(client, as: "bt-both")
                let id = try await createDashboard(client, owner, [
                    ("title", "Shop \(tag)"), ("kind", "labels"), ("selection", "berth.test.dash=\(tag)"),
                    ("showStatus", "on"), ("showStats", "on"), ("showEvents", "on"), ("sharedGroups", "bt-viewers"),
                ])

                // The editor's preview names the same containers.
                let preview = try await client.execute(
                    uri: "/dashboards/preview?kind=labels&selection=berth.test.dash%3D\(tag)", method: .get, headers: owner.getHeaders
                )
                let previewed = try #require(try JSONSerialization.jsonObject(with: Data(preview.text.utf8)) as? [String: Any])
                let names = (previewed["matches"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(names == [first, second].sorted())

                // A teammate in the shared group sees it listed and shown: both matching containers, not the other.
                let teammate = try await signIn(client, as: "bt-viewer")
                let list = try await client.execute(uri: "/dashboards", method: .get, headers: teammate.getHeaders)
                #expect(list.text.contains("/dashboards/\(id)\""))
                let page = try await client.execute(uri: "/dashboards/\(id)", method: .get, headers: teammate.getHeaders)
                #expect(page.status == .ok)
                #expect(page.text.contains(first) && page.text.contains(second))
                #expect(!page.text.contains(other))
                #expect(!page.text.contains("/edit\""), "no edit link for a teammate")

                // Someone it is not shared with gets 404, as for a dashboard that doesn't exist.
                let stranger = try await signIn(client, as: "bt-operator")
                #expect(try await client.execute(uri: "/dashboards/\(id)", method: .get, headers: stranger.getHeaders).status == .notFound)

                // Every POST route that needs more than a viewer refuses the teammate's session, dashboard ones included.
                let table = try #require(routes.withLockedValue { $0 })
                let containerID = try await engine.listContainers(all: true, filters: .init(name: [first])).first?.id ?? "x"
                var refused = 0
                for (route, permission) in table.all where route.method == .post && (permission.minimumRole ?? .viewer) > .viewer {
                    let path = route.path
                        .replacingOccurrences(of: "{id}", with: path(route.path, id: id, container: containerID))
                        .replacingOccurrences(of: "{link}", with: "1")
                        .replacingOccurrences(of: "{name}", with: "x")
                        .replacingOccurrences(of: "{ticket}", with: "x")
                        .replacingOccurrences(of: "{engine}", with: "local")
                    let response = try await post(client, teammate, path, [("_csrf", teammate.csrfToken), ("title", "taken over")])
                    #expect(response.status == .forbidden, "POST \(path) as a viewer gave \(response.status)")
                    refused += 1
                }
                #expect(refused >= 20)
                #expect(try await engine.inspectContainer(first).state?.running == true)
                let stillThere = try await client.execute(uri: "/dashboards/\(id)", method: .get, headers: teammate.getHeaders)
                #expect(stillThere.text.contains("Shop \(tag)"))
                let events = try await app.auditEvents()
                #expect(events.contains { $0.action == "dashboard.update" && $0.actor == "bt-viewer" && $0.outcome == .denied })
                #expect(events.contains { $0.action == "dashboard.create" && $0.actor == "bt-both" && $0.outcome == .ok })
            }
        }
    }

    @Test func theStatusStreamFollowsTheSelectionLive() async throws {
        try await TestEngine.withContainers { _, scope in
            let tag = String(UUID().uuidString.prefix(8).lowercased())
            let first = TestEngine.uniqueName("dash-live")
            try await scope.busybox(["sleep", "60"], name: first, labels: ["berth.test.live": tag])
            try await withLiveStreamApp { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await createDashboard(live.client, owner, [
                    ("title", "Live \(tag)"), ("kind", "labels"), ("selection", "berth.test.live=\(tag)"), ("showStatus", "on"), ("showEvents", "on"),
                ])
                let stream = try await live.open("/dashboards/\(id)/stream", as: owner)
                defer { stream.close() }
                #expect(stream.status == 200)
                let initial = try #require(await stream.next("containers", timeout: .seconds(20))).found
                #expect(containerNames(initial) == [first])

                // Started after the dashboard was made: on it at once, and its start is among the events.
                let later = TestEngine.uniqueName("dash-later")
                try await scope.busybox(["sleep", "60"], name: later, labels: ["berth.test.live": tag])
                var names: [String] = []
                var sawStart = false
                let deadline = ContinuousClock.now + .seconds(20)
                while !(names.contains(later) && sawStart), ContinuousClock.now < deadline {
                    guard let event = await stream.next(timeout: deadline - ContinuousClock.now) else { break }
                    if event.event == "containers" { names = containerNames(event) }
                    if event.event == "event", let json = event.json, json["name"] as? String == later, json["action"] as? String == "start" {
                        sawStart = true
                    }
                }
                #expect(names == [first, later].sorted())
                #expect(sawStart)
            }
        }
    }

    // MARK: Share links

    @Test func aLinkWorksUntilItExpiresOrIsRevokedAndIsNeverAGeneralSession() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("dash-link")
            try await scope.busybox(["sleep", "60"], name: name)
            try await withTestApp { client, app in
                let admin = try await signIn(client, as: "bt-admin")
                let id = try await createDashboard(client, admin, [
                    ("title", "Wall"), ("kind", "names"), ("selection", name), ("showStatus", "on"),
                ])
                let otherId = try await createDashboard(client, admin, [
                    ("title", "Other"), ("kind", "names"), ("selection", name), ("showStatus", "on"),
                ])

                // A short link: works now, 410 once it expired, on the page and at the exchange.
                let shortToken = try await createLink(client, admin, dashboard: id, expiresIn: 6)
                let shortCookie = try await exchange(client, token: shortToken, dashboard: id)
                let shown = try await client.execute(uri: "/shared/\(id)", method: .get, headers: [.cookie: shortCookie])
                #expect(shown.status == .ok)
                #expect(shown.text.contains(name))
                #expect(!shown.text.contains(shortToken), "the token is not on the page after the exchange")
                try await Task.sleep(for: .seconds(6.5))
                let expired = try await client.execute(uri: "/shared/\(id)", method: .get, headers: [.cookie: shortCookie])
                #expect(expired.status == .gone)
                #expect(expired.text.contains("expired"))
                #expect(try await client.execute(uri: "/s/\(shortToken)", method: .get).status == .gone)

                // A week-long link: works, opens nothing else, and ends when revoked.
                let token = try await createLink(client, admin, dashboard: id, expiresIn: 7 * 86400)
                let cookie = try await exchange(client, token: token, dashboard: id)
                #expect(try await client.execute(uri: "/shared/\(id)", method: .get, headers: [.cookie: cookie]).status == .ok)
                #expect(try await client.execute(uri: "/shared/\(otherId)", method: .get, headers: [.cookie: cookie]).status == .notFound)
                let containers = try await client.execute(uri: "/containers", method: .get, headers: [.cookie: cookie])
                #expect(containers.status == .seeOther, "the link's cookie is no session")
                #expect(containers.headers[.location]?.hasPrefix("/login") == true)
                let posted = try await client.execute(
                    uri: "/shared/\(id)", method: .post, headers: [.cookie: cookie, .origin: "http://localhost"], body: ByteBuffer()
                )
                #expect([.forbidden, .notFound, .methodNotAllowed].contains(posted.status))
                #expect(try await client.execute(uri: "/s/not-a-real-token", method: .get).status == .notFound)

                let linkId = try #require(try await AppDatabase.open(path: app.configuration.databasePath).dashboardLinks(dashboardId: id).first?.id)
                let revoke = try await post(client, admin, "/dashboards/\(id)/links/\(linkId)/revoke")
                #expect(revoke.status == .seeOther)
                let revoked = try await client.execute(uri: "/shared/\(id)", method: .get, headers: [.cookie: cookie])
                #expect(revoked.status == .gone)
                #expect(revoked.text.contains("revoked"))
                #expect(try await client.execute(uri: "/s/\(token)", method: .get).status == .gone)

                // Every use and every refusal is in the audit trail, and no token is.
                let events = try await app.auditEvents()
                #expect(events.filter { $0.action == "dashboard.link.use" && $0.outcome == .ok }.count == 2)
                #expect(events.contains { $0.action == "dashboard.link.use" && $0.outcome == .denied && $0.errorMessage?.contains("expired") == true })
                #expect(events.contains { $0.action == "dashboard.link.use" && $0.outcome == .denied && $0.errorMessage?.contains("revoked") == true })
                #expect(events.contains { $0.action == "dashboard.link.use" && $0.outcome == .denied && $0.errorMessage == "unknown link" })
                #expect(events.contains { $0.action == "dashboard.view" && $0.outcome == .denied && $0.actor.hasPrefix("link #") })
                #expect(events.contains { $0.action == "dashboard.view" && $0.outcome == .ok && $0.role == "link" })
                #expect(events.contains { $0.action == "dashboard.link.revoke" && $0.actor == "bt-admin" && $0.outcome == .ok })
                let everything = events.map { "\($0.parameters ?? "") \($0.errorMessage ?? "") \($0.targetId ?? "")" }.joined()
                #expect(!everything.contains(token) && !everything.contains(shortToken))
                let stored = try await AppDatabase.open(path: app.configuration.databasePath).dashboardLinks(dashboardId: id)
                #expect(stored.allSatisfy { $0.tokenHash != token && $0.tokenHash.count == 64 })
                #expect(stored.first { $0.id == linkId }?.useCount == 1)
            }
        }
    }

    @Test func aLinkViewerReachesOnlyTheSelectedContainersAndSeesLogsRedacted() async throws {
        try await TestEngine.withContainers { _, scope in
            let shown = TestEngine.uniqueName("dash-shown")
            let hidden = TestEngine.uniqueName("dash-hidden")
            let shownID = try await scope.busybox(
                ["sh", "-c", "echo 'login ok password=hunter2 user=alice'; echo 'plain line'; sleep 60"], name: shown
            )
            let hiddenID = try await scope.busybox(["sh", "-c", "echo secret-of-the-other; sleep 60"], name: hidden)
            try await withLiveStreamApp { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await createDashboard(live.client, owner, [
                    ("title", "Redacted"), ("kind", "pattern"), ("selection", "dash-shown-*"), ("showStatus", "on"), ("showStats", "on"),
                    ("showLogs", "on"), ("redactions", "hunter2\n(?i)user=\\w+"),
                ])
                let token = try await createLink(live.client, owner, dashboard: id, expiresIn: 3600)
                let cookie = try await exchange(live.client, token: token, dashboard: id)

                // Outside the selection: 404 by full id, short id and name, for logs, stats and the container page.
                for reference in [hiddenID, String(hiddenID.prefix(12)), hidden] {
                    for suffix in ["", "/logs", "/logs/stream", "/stats/stream"] {
                        let response = try await live.client.execute(
                            uri: "/shared/\(id)/containers/\(reference)\(suffix)", method: .get, headers: [.cookie: cookie]
                        )
                        #expect(response.status == .notFound, "\(reference)\(suffix) gave \(response.status)")
                    }
                }
                // Inside it: the page answers, without environment or inspect JSON.
                let page = try await live.client.execute(uri: "/shared/\(id)/containers/\(shown)", method: .get, headers: [.cookie: cookie])
                #expect(page.status == .ok)
                #expect(page.text.contains(shown) && !page.text.contains("PATH="))

                // The container's log stream: the secret is masked before it leaves the server.
                let logs = try await live.open("/shared/\(id)/containers/\(String(shownID.prefix(12)))/logs/stream?tail=100", as: Browser(cookie: cookie, csrfToken: ""))
                defer { logs.close() }
                #expect(logs.status == 200)
                let (lines, events) = await collectLines(logs) { $0.count >= 2 }
                #expect(lines.map(\.text) == ["login ok password=[redacted] [redacted]", "plain line"])
                #expect(!events.contains { String(describing: $0).contains("hunter2") })

                // The dashboard's own stream carries the same masked lines, and only the selected container's.
                let stream = try await live.open("/shared/\(id)/stream", as: Browser(cookie: cookie, csrfToken: ""))
                defer { stream.close() }
                let (merged, all) = await collectLines(stream) { $0.count >= 2 }
                #expect(merged.map(\.text).contains("login ok password=[redacted] [redacted]"))
                #expect(!all.contains { String(describing: $0).contains("hunter2") || String(describing: $0).contains("secret-of-the-other") })

                let audit = try await live.app.auditEvents()
                #expect(audit.filter { $0.action == "dashboard.logs" && $0.outcome == .denied && $0.actor.hasPrefix("link #") }.count >= 6)
                #expect(audit.contains { $0.action == "dashboard.stats" && $0.outcome == .denied })
                #expect(audit.contains { $0.action == "dashboard.container" && $0.outcome == .denied })
                #expect(audit.contains { $0.action == "dashboard.logs" && $0.outcome == .ok && $0.role == "link" })
                #expect(audit.contains { $0.action == "dashboard.stream" && $0.outcome == .ok && $0.role == "link" })
            }
        }
    }

    /// The reviewers' reproduction: a label selector on `name` passed the events of a container named so (which has
    /// no such label, and whose pages are 404), and link viewers read exec command lines with a password in them.
    @Test func eventsThroughALinkPassExactlyTheSelectionAndNoExecCommandLine() async throws {
        try await TestEngine.withContainers { _, scope in
            let tag = UUID().uuidString.prefix(8).lowercased()
            let outsider = TestEngine.uniqueName("dash-outsider")
            try await withLiveStreamApp { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let byName = try await createDashboard(live.client, owner, [
                    ("title", "By a name label"), ("kind", "labels"), ("selection", "name=\(outsider)"), ("showStatus", "on"), ("showEvents", "on"),
                ])
                let byLabel = try await createDashboard(live.client, owner, [
                    ("title", "By a real label"), ("kind", "labels"), ("selection", "berth.test.dash=\(tag)"), ("showStatus", "on"), ("showEvents", "on"),
                ])
                let byNameCookie = try await exchange(live.client, token: try await createLink(live.client, owner, dashboard: byName, expiresIn: 3600), dashboard: byName)
                let byLabelCookie = try await exchange(live.client, token: try await createLink(live.client, owner, dashboard: byLabel, expiresIn: 3600), dashboard: byLabel)
                let member = try await scope.busybox(["sleep", "60"], labels: ["berth.test.dash": String(tag)])

                let nameStream = try await live.open("/shared/\(byName)/stream", as: Browser(cookie: byNameCookie, csrfToken: ""))
                let labelStream = try await live.open("/shared/\(byLabel)/stream", as: Browser(cookie: byLabelCookie, csrfToken: ""))
                let viewer = try await signIn(live.client, as: "bt-viewer")
                let admin = try await signIn(live.client, as: "bt-admin")
                let viewerEvents = try await live.open("/events/stream?type=container", as: viewer)
                let adminEvents = try await live.open("/events/stream?type=container", as: admin)
                defer { nameStream.close(); labelStream.close(); viewerEvents.close(); adminEvents.close() }
                #expect(await nameStream.next("containers", timeout: .seconds(10)) != nil)
                #expect(await labelStream.next("containers", timeout: .seconds(10)) != nil)

                // A container named like the selector's value, without the label: not on that dashboard.
                let outsiderID = try await scope.busybox(["sleep", "60"], name: outsider)
                // A command with a secret, run in the dashboard's own container.
                let host = try TestEngine.address().description
                try TestUsers.shell("docker", "-H", host, "exec", member, "sh", "-c", "echo MYSQL_PASSWORD=s3cret-\(tag)")

                // Wait until the admin's page saw the exec with its command line: everything was sent by then.
                var adminSawCommand = false
                while !adminSawCommand, let event = await adminEvents.next("event", timeout: .seconds(10)) {
                    adminSawCommand = event.found.data.contains("s3cret-\(tag)")
                }
                #expect(adminSawCommand, "admins see exec command lines")
                try await Task.sleep(for: .seconds(2))

                var seen: [ReceivedEvent] = []
                while let event = await nameStream.next(timeout: .milliseconds(300)) { seen.append(event) }
                #expect(!seen.contains { $0.event == "event" && $0.data.contains(String(outsiderID.prefix(12))) }, "an outsider's event passed")
                var memberEvents: [ReceivedEvent] = []
                while let event = await labelStream.next(timeout: .milliseconds(300)) { if event.event == "event" { memberEvents.append(event) } }
                #expect(memberEvents.contains { $0.data.contains(#""action":"exec_create""#) }, "the exec is shown, without its command")
                #expect(!memberEvents.contains { $0.data.contains("s3cret") })
                var viewerSeen: [ReceivedEvent] = []
                while let event = await viewerEvents.next(timeout: .milliseconds(300)) { viewerSeen.append(event) }
                #expect(viewerSeen.contains { $0.data.contains(#""action":"exec_create""#) })
                #expect(!viewerSeen.contains { $0.data.contains("s3cret") })
            }
        }
    }

    @Test func revokingALinkClosesItsOpenStreamAtOnce() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("dash-revoke")
            try await scope.busybox(["sleep", "60"], name: name)
            try await withLiveStreamApp(heartbeat: .seconds(30)) { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await createDashboard(live.client, owner, [("title", "Revoke"), ("kind", "names"), ("selection", name), ("showStatus", "on")])
                let token = try await createLink(live.client, owner, dashboard: id, expiresIn: 3600)
                let cookie = try await exchange(live.client, token: token, dashboard: id)
                let stream = try await live.open("/shared/\(id)/stream", as: Browser(cookie: cookie, csrfToken: ""))
                defer { stream.close() }
                #expect(await stream.next("containers", timeout: .seconds(20)) != nil)
                let linkId = try #require(try await AppDatabase.open(path: live.app.configuration.databasePath).dashboardLinks(dashboardId: id).first?.id)
                #expect(try await post(live.client, owner, "/dashboards/\(id)/links/\(linkId)/revoke").status == .seeOther)
                // Long before the 30 s heartbeat.
                let end = try #require(await stream.next("end", timeout: .seconds(5))).found
                #expect(end.json?["reason"] as? String == "This link was revoked.")
            }
        }
    }

    @Test func theEditorRefusesWhatCannotBeSavedAndOnlyOwnersAndAdminsChangeADashboard() async throws {
        try await withTestApp { client, app in
            let owner = try await signIn(client, as: "bt-operator")
            let bad = try await post(client, owner, "/dashboards", [
                ("title", ""), ("kind", "labels"), ("selection", ""), ("redactions", "(unclosed\n.*"),
            ])
            #expect(bad.status == .unprocessableContent)
            #expect(bad.text.contains("Give the dashboard a title."))
            #expect(bad.text.contains("The redaction rule (unclosed has an unclosed group."))
            #expect(bad.text.contains("matches empty text"))
            #expect(bad.text.contains("Give at least one label selector"))
            let id = try await createDashboard(client, owner, [("title", "Mine"), ("kind", "compose"), ("selection", "shop"), ("showStatus", "on"), ("sharedWithAll", "on")])
            // Another operator sees it (shared with everyone) but may not change it.
            let other = try await signIn(client, as: "bt-both")
            #expect(try await client.execute(uri: "/dashboards/\(id)", method: .get, headers: other.getHeaders).status == .ok)
            let takeover = try await post(client, other, "/dashboards/\(id)", [("title", "Theirs"), ("kind", "names"), ("selection", "x"), ("showStatus", "on")])
            #expect(takeover.status == .forbidden)
            #expect(try await post(client, other, "/dashboards/\(id)/links", [("expiresIn", "3600")]).status == .forbidden)
            // Longer than the configured maximum: refused.
            let tooLong = try await post(client, owner, "/dashboards/\(id)/links", [("expiresIn", String(8 * 86400))])
            #expect(try await flash(after: tooLong, client, owner)?.contains("at most 7 days") == true)
            // The owner can; an admin can remove it.
            let edit = try await post(client, owner, "/dashboards/\(id)", [("title", "Renamed"), ("kind", "compose"), ("selection", "shop"), ("showStatus", "on")])
            #expect(edit.status == .seeOther)
            let admin = try await signIn(client, as: "bt-admin")
            #expect(try await post(client, admin, "/dashboards/\(id)/delete").status == .seeOther)
            #expect(try await client.execute(uri: "/dashboards/\(id)", method: .get, headers: owner.getHeaders).status == .notFound)
            let events = try await app.auditEvents()
            #expect(events.contains { $0.action == "dashboard.update" && $0.actor == "bt-both" && $0.outcome == .denied })
            #expect(events.contains { $0.action == "dashboard.delete" && $0.actor == "bt-admin" && $0.outcome == .ok })
            #expect(events.contains { $0.action == "dashboard.create" && $0.outcome == .error })
        }
    }

    // MARK: Pure parts

    /// The engine narrows the list before a selection applies (a few containers, not the host's thousands) and never
    /// drops one the selection matches: the same containers as from the whole list, for every kind.
    @Test func theEngineNarrowsTheListWithoutLosingAContainerTheSelectionMatches() async throws {
        try await TestEngine.withContainers { engine, scope in
            let tag = String(UUID().uuidString.prefix(8).lowercased())
            let dotted = "nar-\(tag).web"
            let plain = "nar-\(tag)-web"
            try await scope.busybox(["true"], name: dotted, labels: ["nar.app": tag, "nar.tier": "web"], start: false)
            try await scope.busybox(["true"], name: plain, labels: ["nar.app": tag, "com.docker.compose.project": "p\(tag)"], start: false)
            try await scope.busybox(["true"], name: "nar-\(tag)Xweb", labels: ["nar.app": "other"], start: false)
            let selections = [
                DashboardSelection(kind: .names, values: [dotted, plain]),
                DashboardSelection(kind: .names, values: [dotted, "not a name"]),
                DashboardSelection(kind: .labels, values: ["nar.app=\(tag)", "nar.tier"]),
                DashboardSelection(kind: .labels, values: ["nar.app=\(tag)"]),
                DashboardSelection(kind: .compose, values: ["p\(tag)"]),
                DashboardSelection(kind: .pattern, values: ["nar-\(tag)*"]),
            ]
            let everything = try await engine.listContainers(all: true)
            for selection in selections {
                let narrowed = try await engine.listContainers(all: true, filters: selection.engineFilters)
                #expect(selection.select(narrowed).map(\.name) == selection.select(everything).map(\.name), "\(selection)")
                #expect(!selection.select(narrowed).isEmpty, "\(selection) matches something")
                if selection.kind != .pattern && selection.values != [dotted, "not a name"] {
                    #expect(narrowed.count < everything.count, "\(selection): the engine narrowed the list")
                }
            }
        }
    }

    @Test func selectionsMatchAsTheyPromise() {
        #expect(DashboardSelection.glob("web-*", matches: "web-1"))
        #expect(DashboardSelection.glob("web-?", matches: "web-1"))
        #expect(!DashboardSelection.glob("web-?", matches: "web-12"))
        #expect(DashboardSelection.glob("*db*", matches: "shop-db-main"))
        #expect(!DashboardSelection.glob("web-*", matches: "api-web-1"))
        let labels = DashboardSelection(kind: .labels, values: ["app=shop", "tier"])
        #expect(labels.matches(name: "x", labels: ["app": "shop", "tier": "web"]))
        #expect(!labels.matches(name: "x", labels: ["app": "shop"]))
        #expect(!labels.matches(name: "x", labels: ["app": "shopping", "tier": "web"]))
        let compose = DashboardSelection(kind: .compose, values: ["shop"])
        #expect(compose.matches(name: "x", labels: ["com.docker.compose.project": "shop"]))
        #expect(!compose.matches(name: "x", labels: [:]))
        #expect(DashboardSelection(kind: .names, values: ["a", "b"]).matches(name: "b", labels: [:]))
        #expect(LogRedactor(patterns: ["token=\\S+"]).redact("a token=abc b") == "a [redacted] b")
        #expect(LogRedactor.problem(with: "a*") == "matches empty text")
        #expect(LogRedactor.problem(with: "(") == "has an unclosed group")
        #expect(LogRedactor.problem(with: "(a)\\1") == "uses a back-reference, which redaction rules don't support")
        // A rule saved before (ICU syntax this matcher refuses) withholds lines rather than let them through unmasked.
        let old = LogRedactor(patterns: ["(?<=password=)\\S+", "token=\\S+"])
        #expect(old.redact("password=hunter2 token=abc") == LogRedactor.withheld)
        #expect(!old.isEmpty)
        // Hostile rules are fine for the matcher: linear in the line whatever the pattern.
        #expect(LogRedactor.problem(with: "(a+)+b") == nil)
        #expect(LogRedactor(patterns: ["(a+)+b"]).redact(String(repeating: "a", count: 5000) + "b!") == "[redacted]!")
        // Too much together, and lines beyond the budget are cut, visibly.
        #expect(LogRedactor.problem(withRules: Array(repeating: "(a{1,10}){1,10}b", count: 10)) != nil)
        let heavy = LogRedactor(patterns: ["(a{1,10}){1,10}b", "x{1,100}y"])
        let long = String(repeating: "a", count: heavy.checkedLength + 10)
        #expect(heavy.redact(long).hasSuffix(" [10 more characters not shown: too long to check against the redaction rules]"))
    }
}

// MARK: Helpers

/// Posts the editor's form and returns the new dashboard's id (from the redirect to its page).
func createDashboard(_ client: some TestClientProtocol, _ browser: Browser, _ fields: [(String, String)]) async throws -> Int64 {
    let response = try await post(client, browser, "/dashboards", fields)
    #expect(response.status == .seeOther, "creating a dashboard failed: \(response.text)")
    let location = try #require(response.headers[.location])
    return try #require(Int64(location.replacingOccurrences(of: "/dashboards/", with: "")))
}

/// Makes a share link and returns its token, read from the page that shows it once.
func createLink(_ client: some TestClientProtocol, _ browser: Browser, dashboard: Int64, expiresIn: Int) async throws -> String {
    let response = try await post(client, browser, "/dashboards/\(dashboard)/links", [("label", "wall"), ("expiresIn", String(expiresIn))])
    #expect(response.status == .created, "making a link failed: \(response.text)")
    let range = try #require(response.text.range(of: "/s/"))
    return String(response.text[range.upperBound...].prefix { $0 != "\"" })
}

/// Opens a link as a fresh browser: the redirect must lead to the dashboard without the token. Returns the cookie.
func exchange(_ client: some TestClientProtocol, token: String, dashboard: Int64) async throws -> String {
    let response = try await client.execute(uri: "/s/\(token)", method: .get)
    #expect(response.status == .seeOther)
    #expect(response.headers[.location] == "/shared/\(dashboard)")
    let cookie = try #require(response.setCookie("berth-share"))
    #expect(cookie.header.contains("Path=/shared/\(dashboard)"))
    #expect(cookie.header.contains("HttpOnly"))
    #expect(!cookie.header.contains(token))
    return cookie.pair
}

func containerNames(_ event: ReceivedEvent) -> [String] {
    ((event.json?["containers"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
}

/// A value for a route's `{id}`: the dashboard for dashboard routes, the container elsewhere.
private func path(_ route: String, id: Int64, container: String) -> String {
    route.hasPrefix("/dashboards") ? String(id) : container
}
