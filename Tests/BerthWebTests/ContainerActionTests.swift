@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Actions from the browser on real busybox containers, checked by inspecting the engine and reading the audit table.
@Suite struct ContainerActionTests {


    @Test func anOperatorStopsStartsRestartsPausesAndKills() async throws {
        try await TestEngine.withContainers { engine, scope in
            let name = TestEngine.uniqueName("act")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")

                let stop = try await post(client, browser, "/containers/\(id)/stop", [("timeout", "0")])
                #expect(stop.status == .seeOther)
                #expect(stop.headers[.location] == "/containers/\(id)")
                #expect(try await flash(after: stop, client, browser) == "Stopped \(name).")
                #expect(try await engine.inspectContainer(id).state?.running == false)

                _ = try await post(client, browser, "/containers/\(id)/start")
                #expect(try await engine.inspectContainer(id).state?.running == true)

                _ = try await post(client, browser, "/containers/\(id)/pause")
                #expect(try await engine.inspectContainer(id).state?.paused == true)
                _ = try await post(client, browser, "/containers/\(id)/unpause")
                #expect(try await engine.inspectContainer(id).state?.paused == false)

                let startedBefore = try await engine.inspectContainer(id).state?.startedAt
                _ = try await post(client, browser, "/containers/\(id)/restart", [("timeout", "0")])
                let afterRestart = try await engine.inspectContainer(id).state
                #expect(afterRestart?.running == true)
                #expect(afterRestart?.startedAt != startedBefore)

                // PID 1 ignores SIGTERM without a handler: KILL it.
                let kill = try await post(client, browser, "/containers/\(id)/kill", [("signal", "kill")])
                #expect(try await flash(after: kill, client, browser) == "Killed \(name).")
                _ = try await engine.waitContainer(id)
                let killed = try await engine.inspectContainer(id).state
                #expect(killed?.running == false)
                #expect(killed?.exitCode == 137)

                let events = try await app.auditEvents()
                for action in ["container.stop", "container.start", "container.pause", "container.unpause", "container.restart", "container.kill"] {
                    let event = try #require(events.first { $0.action == action }, "\(action) audited")
                    #expect(event.outcome == .ok)
                    #expect(event.actor == "bt-operator")
                    #expect(event.role == "operator")
                    #expect(event.targetId == id)
                    #expect(event.targetName == name)
                    #expect(event.durationMs != nil)
                }
                #expect(events.first { $0.action == "container.kill" }?.parameters == #"{"signal":"SIGKILL"}"#)
                #expect(events.first { $0.action == "container.stop" }?.parameters == #"{"timeout":"0"}"#)
            }
        }
    }

    @Test func whenTheAuditTrailCannotBeWrittenNothingIsDone() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                // Another process holds the database's write lock past the busy timeout (5 s).
                let lock = try SQLiteLock(path: app.configuration.databasePath)
                defer { lock.release() }
                let response = try await post(client, browser, "/containers/\(id)/stop", [("timeout", "0")])
                #expect(try await flash(after: response, client, browser) == AuditTrail.unavailableMessage)
                #expect(try await engine.inspectContainer(id).state?.running == true)
            }
        }
    }

    @Test func aViewerMayNotActAndTheRefusalIsAudited() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-viewer")
                let page = try await client.execute(uri: "/containers/\(id)", method: .get, headers: browser.getHeaders)
                #expect(page.status == .ok)
                #expect(!page.text.contains("/stop\""))
                let response = try await post(client, browser, "/containers/\(id)/stop")
                #expect(response.status == .forbidden)
                #expect(try await engine.inspectContainer(id).state?.running == true)
                let denied = try #require(try await app.auditEvents().first { $0.action == "container.stop" })
                #expect(denied.outcome == .denied)
                #expect(denied.targetId == id)
                #expect(denied.actor == "bt-viewer")
            }
        }
    }

    @Test func removingAndRenamingAreForAdminsOnly() async throws {
        try await TestEngine.withContainers { engine, scope in
            let name = TestEngine.uniqueName("rm")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                #expect(try await post(client, operatorBrowser, "/containers/\(id)/remove", [("force", "1")]).status == .forbidden)
                #expect(try await post(client, operatorBrowser, "/containers/\(id)/rename", [("name", "x")]).status == .forbidden)

                let admin = try await signIn(client, as: "bt-admin")
                let newName = TestEngine.uniqueName("renamed")
                let rename = try await post(client, admin, "/containers/\(id)/rename", [("name", newName)])
                #expect(rename.headers[.location] == "/containers/\(newName)")
                #expect(try await engine.inspectContainer(id).name == "/\(newName)")

                // Without force a running container can't go: the daemon's message, nothing removed.
                let refused = try await post(client, admin, "/containers/\(id)/remove")
                #expect(try await flash(after: refused, client, admin)?.lowercased().contains("stop the container before") == true)
                #expect(try await engine.inspectContainer(id).id == id)

                let remove = try await post(client, admin, "/containers/\(id)/remove", [("force", "1"), ("volumes", "1")])
                #expect(remove.headers[.location] == "/containers?all=1")
                await #expect(throws: EngineError.self) { _ = try await engine.inspectContainer(id) }

                let events = try await app.auditEvents()
                #expect(events.contains { $0.action == "container.remove" && $0.outcome == .denied && $0.actor == "bt-operator" })
                #expect(events.contains { $0.action == "container.remove" && $0.outcome == .error && $0.actor == "bt-admin" })
                #expect(events.contains { $0.action == "container.remove" && $0.outcome == .ok && $0.parameters == #"{"force":"1","volumes":"1"}"# })
                #expect(events.contains { $0.action == "container.rename" && $0.outcome == .ok && $0.parameters == "{\"name\":\"\(newName)\"}" })
            }
        }
    }

    @Test func actingOnAContainerRemovedMeanwhileSaysSo() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                try await engine.removeContainer(id, force: true)
                let response = try await post(client, browser, "/containers/\(id)/stop")
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/containers?all=1")
                #expect(try await flash(after: response, client, browser) == "No such container: \(id). It may have been removed.")
                let page = try await client.execute(uri: "/containers/\(id)", method: .get, headers: browser.getHeaders)
                #expect(page.status == .notFound)
                #expect(page.text.contains("No such container"))
                #expect(try await app.auditEvents().contains { $0.action == "container.stop" && $0.outcome == .error })
            }
        }
    }

    @Test func stopAllStopsEveryRunningContainerShownAndReportsEach() async throws {
        try await TestEngine.withContainers { engine, scope in
            let run = UUID().uuidString
            var created: [String] = []
            for _ in 0..<3 { created.append(try await scope.busybox(["sleep", "300"], labels: ["berth.test.run": run])) }
            let ids = created
            let bystander = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await post(client, browser, "/containers/bulk", [("action", "stop-all"), ("label", "berth.test.run=\(run)")])
                #expect(response.status == .ok)
                #expect(response.text.contains("3 succeeded, 0 failed."))
                for id in ids {
                    #expect(try await engine.inspectContainer(id).state?.running == false)
                }
                #expect(try await engine.inspectContainer(bystander).state?.running == true)
                #expect(try await app.auditEvents().filter { $0.action == "container.stop" && $0.outcome == .ok }.count == 3)
            }
        }
    }

    @Test func aBulkActionReportsEachContainerAndOneFailureHidesNothing() async throws {
        try await TestEngine.withContainers { engine, scope in
            let first = try await scope.busybox(["sleep", "300"])
            let second = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await post(
                    client, browser, "/containers/bulk",
                    [("action", "pause"), ("id", first), ("id", "berth-test-vanished"), ("id", second)]
                )
                #expect(response.status.code == 207)
                #expect(response.text.contains("2 succeeded, 1 failed."))
                #expect(response.text.contains("No such container: berth-test-vanished"))
                #expect(try await engine.inspectContainer(first).state?.paused == true)
                #expect(try await engine.inspectContainer(second).state?.paused == true)
                // An operator can't bulk-remove.
                let remove = try await post(client, browser, "/containers/bulk", [("action", "remove"), ("id", first)])
                #expect(remove.status == .forbidden)
                #expect(try await engine.inspectContainer(first).id == first)
            }
        }
    }

    /// The reviewers' reproduction: one bulk POST with 5,000 made-up ids wrote 5,000 audit rows in 4.9 s.
    @Test func aBulkRequestIsCappedAndMadeUpIdsAreOneRow() async throws {
        try await TestEngine.withContainers { engine, scope in
            let real = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let tooMany = try await post(client, browser, "/containers/bulk", [("action", "pause")] + (0..<5000).map { ("id", "made-up-\($0)") })
                #expect(tooMany.status == .seeOther)
                #expect(try await flash(after: tooMany, client, browser)?.contains("Select at most 1000 containers at once.") == true)

                let before = try await app.auditEvents().count
                let madeUp = try await post(client, browser, "/containers/bulk", [("action", "pause"), ("id", real)] + (0..<999).map { ("id", "made-up-\($0)") })
                #expect(madeUp.status.code == 207)
                #expect(madeUp.text.contains("1 succeeded, 999 failed."))
                #expect(madeUp.text.contains("979 more ids that no container has."))
                #expect(try await engine.inspectContainer(real).state?.paused == true)
                let all = try await app.auditEvents()
                let rows = all.prefix(all.count - before)  // newest first: the rows this request wrote
                #expect(rows.filter { $0.action == "container.pause" }.count == 2, "one row for the container, one for every made-up id")
                let unknown = try #require(rows.first { $0.action == "container.pause" && $0.outcome == .error })
                #expect(unknown.errorMessage == "no such container")
                #expect(unknown.parameters?.contains(#""count":"999""#) == true)
                try await engine.unpauseContainer(real)
            }
        }
    }

    @Test func environmentValuesAreMaskedExceptForAdminsWhoAsk() async throws {
        try await TestEngine.withContainers { engine, scope in
            let created = try await engine.createContainer(
                ContainerCreateRequest(
                    image: "busybox", cmd: ["sleep", "300"], env: ["API_TOKEN=s3cr3t-value", "PLAIN=1"],
                    labels: [TestEngine.label: "1"], hostConfig: .init(networkMode: "none")
                ),
                name: TestEngine.uniqueName("env")
            )
            await scope.adopt(created.id)
            try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let masked = try await client.execute(uri: "/containers/\(created.id)?env=show", method: .get, headers: operatorBrowser.getHeaders)
                #expect(masked.text.contains("API_TOKEN"))
                #expect(!masked.text.contains("s3cr3t-value"))
                #expect(try await client.execute(uri: "/containers/\(created.id)/inspect", method: .get, headers: operatorBrowser.getHeaders).status == .forbidden)

                let admin = try await signIn(client, as: "bt-admin")
                let plain = try await client.execute(uri: "/containers/\(created.id)", method: .get, headers: admin.getHeaders)
                #expect(!plain.text.contains("s3cr3t-value"))
                let shown = try await client.execute(uri: "/containers/\(created.id)?env=show", method: .get, headers: admin.getHeaders)
                #expect(shown.text.contains("s3cr3t-value"))
                let raw = try await client.execute(uri: "/containers/\(created.id)/inspect", method: .get, headers: admin.getHeaders)
                #expect(raw.headers[.contentType] == "application/json; charset=utf-8")
                #expect(raw.text.contains("\"Id\" : \"\(created.id)\""))
                let events = try await app.auditEvents()
                #expect(events.contains { $0.action == "container.env.view" && $0.actor == "bt-admin" })
                #expect(events.contains { $0.action == "container.inspect" && $0.outcome == .denied && $0.actor == "bt-operator" })
                // No audit row holds an environment value.
                #expect(!events.contains { ($0.parameters ?? "").contains("s3cr3t") || ($0.errorMessage ?? "").contains("s3cr3t") })
            }
        }
    }

    @Test func theListFiltersByNameImageLabelAndStateAndLinksEachRow() async throws {
        try await TestEngine.withContainers { engine, scope in
            let run = UUID().uuidString
            let runningName = TestEngine.uniqueName("flt-run")
            let exitedName = TestEngine.uniqueName("flt-exit")
            let running = try await scope.busybox(["sleep", "300"], name: runningName, labels: ["berth.test.run": run])
            let exited = try await scope.busybox(["true"], name: exitedName, labels: ["berth.test.run": run])
            _ = try await engine.waitContainer(exited)
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-viewer")
                func page(_ query: String) async throws -> String {
                    try await client.execute(uri: "/containers?\(query)", method: .get, headers: browser.getHeaders).text
                }
                let byLabel = try await page("all=1&label=berth.test.run%3D\(run)")
                #expect(byLabel.contains("href=\"/containers/\(running)\""))
                #expect(byLabel.contains("href=\"/containers/\(exited)\""))
                let exitedOnly = try await page("label=berth.test.run%3D\(run)&state=exited")
                #expect(!exitedOnly.contains(runningName) && exitedOnly.contains(exitedName))
                let byName = try await page("all=1&name=\(exitedName)")
                #expect(byName.contains(exitedName) && !byName.contains(runningName))
                let byImage = try await page("all=1&image=busybox&label=berth.test.run%3D\(run)&sort=name")
                #expect(byImage.contains(exitedName) && byImage.contains(runningName))
                let sorted = try #require(byImage.range(of: runningName)).lowerBound < (try #require(byImage.range(of: exitedName))).lowerBound
                #expect(sorted == (runningName < exitedName))
                let none = try await page("all=1&name=berth-no-such-name-\(run)")
                #expect(none.contains("No container matches these filters."))
                // A viewer gets no checkboxes and no bulk form.
                #expect(!byLabel.contains("action=\"/containers/bulk\""))
            }
        }
    }
}

/// Holds an exclusive lock on a SQLite file from another process (the sqlite3 shell) until released.
final class SQLiteLock: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()

    init(path: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path]
        process.standardInput = input
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE;\nSELECT 'locked';\n".utf8))
        // Wait until the shell has the lock.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("locked") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
    }

    func release() {
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
