@testable import BerthWeb
import AsyncHTTPClient
import BerthStore
import EngineAPI
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing
import TestSupport

/// Jobs: a pull runs on the server whatever its page does, anyone allowed watches it, its owner or an admin cancels
/// it, and Berth stopping (gracefully or killed) leaves it interrupted, never running. A real registry behind a relay
/// that holds its blob answers (`RegistryRelay`), so a pull is still running when the test looks.
@Suite(.serialized) struct JobTests {
    /// A registry with a freshly pushed image, reached through a relay that can hold the pull mid-way.
    struct HeldRegistry: Sendable {
        let registry: TestRegistry
        let relay: RegistryRelay
        /// The image as the engine pulls it: through the relay.
        let reference: String

        static func start() async throws -> HeldRegistry {
            let registry = try TestRegistry()
            try await registry.waitUntilServing()
            let tag = "t\(UUID().uuidString.prefix(8).lowercased())"
            let pushed = try registry.pushImage(as: "berth/jobtest", tag: tag)
            let relay = RegistryRelay(registry: registry.address)
            try await relay.start()
            relay.hold()
            return HeldRegistry(registry: registry, relay: relay, reference: pushed.replacingOccurrences(of: registry.address, with: relay.address))
        }

        func stop() async {
            await relay.stop()
            registry.stop()
            try? await TestEngine.withClient { engine in _ = try? await engine.removeImage(reference, force: true) }
        }

        /// Waits until the engine asked for a blob: the pull is under way and waits on the relay.
        func waitUntilPullWaits() async throws {
            for _ in 0..<300 where relay.blobRequests == 0 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(relay.blobRequests > 0, "the engine never asked the registry for a blob")
        }
    }

    /// Posts the pull form; returns the job's id from the redirect.
    func startPull(_ live: LiveStreamApp, _ browser: Browser, _ held: HeldRegistry) async throws -> Int64 {
        let posted = try await live.client.execute(
            uri: "/images/pull", method: .post, headers: browser.postHeaders(),
            body: formBody([
                ("_csrf", browser.csrfToken), ("reference", held.reference), ("username", held.registry.username),
                ("password", held.registry.password),
            ])
        )
        #expect(posted.status == .seeOther)
        let location = try #require(posted.headers[.location])
        #expect(location.hasPrefix("/jobs/"), "\(location)")
        return try #require(Int64(location.dropFirst("/jobs/".count)))
    }

    /// Follows a job's stream until it ends; the last snapshot and every one seen.
    func follow(_ live: LiveStreamApp, _ browser: Browser, job: Int64, timeout: Duration = .seconds(60)) async throws -> [[String: Any]] {
        let stream = try await live.open("/jobs/\(job)/stream", as: browser)
        defer { stream.close() }
        var seen: [[String: Any]] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, let event = await stream.next(timeout: deadline - ContinuousClock.now) {
            guard event.event == "job", let json = event.json else { continue }
            seen.append(json)
            if let state = json["state"] as? String, !["queued", "running"].contains(state) { break }
        }
        return seen
    }

    func storedJob(_ live: LiveStreamApp, _ id: Int64) async throws -> JobRecord? {
        try await AppDatabase.open(path: live.app.configuration.databasePath).job(id: id)
    }

    @Test func aPullRunsOnAfterItsPageClosesAndAnotherOperatorWatchesItFinish() async throws {
        let held = try await HeldRegistry.start()
        do {
            try await withLiveStreamApp { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await startPull(live, owner, held)
                let page = try await live.client.execute(uri: "/jobs/\(id)", method: .get, headers: owner.getHeaders)
                #expect(page.status == .ok)
                #expect(page.text.contains("Pull \(held.reference)"))

                // The owner's page watches it start, then goes away.
                let first = try await live.open("/jobs/\(id)/stream", as: owner)
                let running = await first.next("job", timeout: .seconds(30))
                #expect(running != nil)
                try await held.waitUntilPullWaits()
                first.close()
                try await Task.sleep(for: .seconds(1))
                #expect(try await storedJob(live, id)?.state == .running, "closing the page changed nothing")

                // Another operator finds it in the list; a viewer may not see it at all.
                let other = try await signIn(live.client, as: "bt-consoler")
                let list = try await live.client.execute(uri: "/jobs", method: .get, headers: other.getHeaders)
                #expect(list.text.contains("Pull \(held.reference)") && list.text.contains("running"))
                let viewer = try await signIn(live.client, as: "bt-viewer")
                let hidden = try await live.client.execute(uri: "/jobs/\(id)", method: .get, headers: viewer.getHeaders)
                #expect(hidden.status == .notFound)
                let viewerList = try await live.client.execute(uri: "/jobs", method: .get, headers: viewer.getHeaders)
                #expect(viewerList.status == .ok && !viewerList.text.contains(held.reference))

                // The other operator watches it to the end once the registry answers again.
                held.relay.release()
                let seen = try await follow(live, other, job: id)
                let last = try #require(seen.last)
                #expect(last["state"] as? String == "succeeded", "\(last)")
                #expect((last["message"] as? String)?.contains("sha256:") == true)
                let items = try #require(last["items"] as? [[String: Any]])
                #expect(!items.isEmpty && items.allSatisfy { $0["done"] as? Bool == true })
                let log = seen.flatMap { $0["log"] as? [String] ?? [] }
                #expect(log.contains { $0.hasPrefix("Digest: sha256:") }, "\(log)")
                try await TestEngine.withClient { engine in
                    let image = try await engine.inspectImage(held.reference)
                    #expect(image.repoTags?.contains(held.reference) == true)
                }

                // Reopened after the end, from its row: the state, the log, the links.
                let ended = try await live.client.execute(uri: "/jobs/\(id)", method: .get, headers: owner.getHeaders)
                #expect(ended.text.contains("succeeded") && ended.text.contains("Digest: sha256:") && ended.text.contains("Open the image"))
                let again = try await follow(live, owner, job: id, timeout: .seconds(10))
                #expect(again.last?["state"] as? String == "succeeded")

                // Audited at start and end; the registry password nowhere in the database.
                let rows = try await live.app.auditEvents()
                let start = try #require(rows.first { $0.action == "job.start" && $0.targetId == String(id) })
                #expect(start.actor == "bt-operator" && start.outcome == .ok && start.targetName == "Pull \(held.reference)")
                let pull = try #require(rows.first { $0.action == "image.pull" })
                #expect(pull.actor == "bt-operator" && pull.outcome == .ok && pull.targetId?.hasPrefix("sha256:") == true)
                #expect(pull.parameters?.contains("\"job\":\"\(id)\"") == true)
                #expect(pull.id! > start.id!)
                for file in [live.app.configuration.databasePath, live.app.configuration.databasePath + "-wal"]
                where FileManager.default.fileExists(atPath: file) {
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                    #expect(bytes.range(of: Data(held.registry.password.utf8)) == nil, "no password in \(file)")
                }
            }
        } catch {
            await held.stop()
            throw error
        }
        await held.stop()
    }

    @Test func itsOwnerOrAnAdminCancelsAJobNobodyElse() async throws {
        let held = try await HeldRegistry.start()
        do {
            try await withLiveStreamApp { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await startPull(live, owner, held)
                try await held.waitUntilPullWaits()

                let other = try await signIn(live.client, as: "bt-consoler")
                let refused = try await live.client.execute(
                    uri: "/jobs/\(id)/cancel", method: .post, headers: other.postHeaders(), body: formBody([("_csrf", other.csrfToken)])
                )
                #expect(refused.status == .seeOther)
                #expect(try await storedJob(live, id)?.state == .running)
                let withoutToken = try await live.client.execute(
                    uri: "/jobs/\(id)/cancel", method: .post, headers: owner.postHeaders(csrf: false), body: formBody([])
                )
                #expect(withoutToken.status == .forbidden)

                let admin = try await signIn(live.client, as: "bt-admin")
                let cancelled = try await live.client.execute(
                    uri: "/jobs/\(id)/cancel", method: .post, headers: admin.postHeaders(), body: formBody([("_csrf", admin.csrfToken)])
                )
                #expect(cancelled.status == .seeOther && cancelled.headers[.location] == "/jobs/\(id)")
                let stored = try #require(try await storedJob(live, id))
                #expect(stored.state == .cancelled && stored.message == "Cancelled by bt-admin.")
                let seen = try await follow(live, owner, job: id, timeout: .seconds(10))
                #expect(seen.last?["state"] as? String == "cancelled")
                let again = try await live.client.execute(
                    uri: "/jobs/\(id)/cancel", method: .post, headers: owner.postHeaders(), body: formBody([("_csrf", owner.csrfToken)])
                )
                #expect(again.status == .seeOther)
                held.relay.release()
                try await TestEngine.withClient { engine in
                    await #expect(throws: EngineError.self) { _ = try await engine.inspectImage(held.reference) }
                }

                let rows = try await live.app.auditEvents()
                let cancels = rows.filter { $0.action == "job.cancel" }
                #expect(cancels.contains { $0.actor == "bt-consoler" && $0.outcome == .denied })
                #expect(cancels.contains { $0.actor == "bt-admin" && $0.outcome == .ok && $0.targetId == String(id) })
                #expect(cancels.contains { $0.actor == "bt-operator" && $0.outcome == .error && $0.errorMessage?.contains("already ended") == true })
                #expect(rows.contains { $0.action == "access.csrf" })
                let pull = try #require(rows.first { $0.action == "image.pull" })
                #expect(pull.outcome == .error && pull.errorMessage == "Cancelled by bt-admin." && pull.actor == "bt-operator")
            }
        } catch {
            await held.stop()
            throw error
        }
        await held.stop()
    }

    /// Starts a pull on a `berth serve` process and waits until it waits on the registry; returns the job's page.
    func startPull(on server: AuditDurabilityTests.ServerProcess, _ client: HTTPClient, _ held: HeldRegistry) async throws -> String {
        try await server.waitUntilServing(client)
        var browser = AuditDurabilityTests.HTTPBrowser(client: client, base: server.base)
        try await browser.signIn("bt-operator")
        let blobsBefore = held.relay.blobRequests
        let (status, headers, _) = try await browser.request("/images/pull", method: .POST, form: [
            ("_csrf", browser.csrf), ("reference", held.reference), ("username", held.registry.username),
            ("password", held.registry.password),
        ])
        #expect(status == 303)
        for _ in 0..<300 where held.relay.blobRequests == blobsBefore { try await Task.sleep(for: .milliseconds(100)) }
        #expect(held.relay.blobRequests > blobsBefore, "the engine never asked the registry for a blob")
        return try #require(headers["Location"].first)
    }

    /// Berth stopped with SIGTERM ends the running job as interrupted, with its rows; Berth killed leaves it running
    /// in the database, and the next start marks it interrupted (its pull row: "outcome not recorded").
    @Test func berthStoppedOrKilledLeavesARunningJobInterruptedNeverRunning() async throws {
        let held = try await HeldRegistry.start()
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let databasePath = directory.appendingPathComponent("berth.sqlite").path
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        var servers: [AuditDurabilityTests.ServerProcess] = []
        do {
            let stopped = try AuditDurabilityTests.ServerProcess(databasePath: databasePath)
            servers.append(stopped)
            let stoppedJob = try await startPull(on: stopped, client, held)
            #expect(kill(stopped.process.processIdentifier, SIGTERM) == 0)
            for _ in 0..<100 where stopped.process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!stopped.process.isRunning && stopped.process.terminationStatus == 0, "berth stops within 10 s though a job runs")
            let store = try AppDatabase.open(path: databasePath)
            let stoppedID = try #require(Int64(stoppedJob.dropFirst("/jobs/".count)))
            let interrupted = try #require(try await store.job(id: stoppedID))
            #expect(interrupted.state == .interrupted && interrupted.message == Job.interruptedMessage)
            let stoppedPull = try #require(try await store.recentAuditEvents(limit: 100).first { $0.action == "image.pull" })
            #expect(stoppedPull.outcome == .error && stoppedPull.errorMessage == Job.interruptedMessage)

            let first = try AuditDurabilityTests.ServerProcess(databasePath: databasePath)
            servers.append(first)
            let location = try await startPull(on: first, client, held)
            first.kill()
            let killedID = try #require(Int64(location.dropFirst("/jobs/".count)))
            let killed = try await store.job(id: killedID)
            #expect(killed?.state == .running)

            let second = try AuditDurabilityTests.ServerProcess(databasePath: databasePath)
            servers.append(second)
            try await second.waitUntilServing(client)
            var again = AuditDurabilityTests.HTTPBrowser(client: client, base: second.base)
            try await again.signIn("bt-operator")
            let (pageStatus, _, page) = try await again.request(location)
            #expect(pageStatus == 200)
            #expect(page.contains("interrupted") && page.contains(Job.interruptedMessage))
            let (_, _, list) = try await again.request("/jobs")
            #expect(list.contains("interrupted") && !list.contains(">running<"))
            // The pull's own row: its attempt was on record, so the next start writes it as "outcome not recorded".
            var rows: [AuditEvent] = []
            for _ in 0..<100 {
                rows = try await AppDatabase.open(path: databasePath).recentAuditEvents(limit: 100)
                if rows.filter({ $0.action == "image.pull" }).count == 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(rows.contains { $0.action == "job.start" && $0.actor == "bt-operator" })
            #expect(rows.contains { $0.action == "image.pull" && $0.errorMessage?.contains("outcome not recorded") == true })
        } catch {
            for server in servers { server.kill() }
            try? await client.shutdown()
            await held.stop()
            throw error
        }
        for server in servers { server.kill() }
        try await client.shutdown()
        await held.stop()
    }
}
