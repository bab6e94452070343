@testable import BerthWeb
import AsyncHTTPClient
import BerthStore
import EngineAPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// SIGTERM, as systemd stops the service: open streams end with an `end` event that lets the page reconnect, the
/// request in flight is answered and audited, and the process exits 0 soon after.
@Suite(.serialized) struct GracefulShutdownTests {
    @Test func sigtermEndsStreamsFinishesTheRequestInFlightAndExitsZero() async throws {
        let runID = UUID().uuidString
        // Settings from a configuration file as well: the binary reads it, flags on top.
        try await withServer(config: "log-level = \"error\"\naudit-head-interval = 3600\n") { server, client, databasePath in
            do {
                try await shutDownGracefully(server, client, runID: runID)
            } catch {
                try? await TestEngine.withClient { engine in try await Self.cleanUp(engine, runID) }
                throw error
            }
            try await TestEngine.withClient { engine in try await Self.cleanUp(engine, runID) }

            // The in-flight run's record was committed before the exit, and the chain is whole.
            let database = try AppDatabase.open(path: databasePath)
            let events = try await database.recentAuditEvents(limit: 100)
            let run = try #require(events.first { $0.action == "container.run" })
            #expect(run.outcome == .ok)
            #expect(try await database.verifyAuditChain().isIntact)
        }
    }

    /// With nothing in flight but the streams, which their HTTP/1 connections write with no task of Hummingbird's
    /// left (``StreamConnectionWriter``): each still gets its `end` event before the process exits (``StreamDrain``).
    @Test func sigtermWithOnlyStreamsOpenEndsEachWithItsEndEvent() async throws {
        try await withServer(config: "log-level = \"error\"\n") { server, client, _ in
            try await server.waitUntilServing(client)
            var browser = AuditDurabilityTests.HTTPBrowser(client: client, base: server.base)
            try await browser.signIn("bt-viewer")
            var streams: [EventStreamConnection] = []
            defer { for stream in streams { stream.close() } }
            for _ in 0..<20 {
                let stream = try await EventStreamConnection.open(server.base + "/events/stream", cookie: browser.cookie)
                #expect(stream.status == 200)
                streams.append(stream)
            }
            for stream in streams { #expect(await eventually(.seconds(5)) { stream.heartbeats >= 1 }) }
            #expect(kill(server.process.processIdentifier, SIGTERM) == 0)
            for stream in streams {
                let end = await stream.next("end", timeout: .seconds(5))
                #expect(end?.found.json?["final"] as? Bool == false, "a stream got no end event before the exit")
            }
            #expect(await eventually(.seconds(10)) { !server.process.isRunning }, "berth still runs 10 s after SIGTERM")
            #expect(server.process.terminationStatus == 0)
        }
    }

    /// A `berth serve` process with a configuration file of `config` and a database of its own (its path given), and a
    /// client for it; the process is killed if `body` throws.
    func withServer(
        config: String, _ body: (_ server: AuditDurabilityTests.ServerProcess, _ client: HTTPClient, _ databasePath: String) async throws -> Void
    ) async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let databasePath = directory.appendingPathComponent("berth.sqlite").path
        let configFile = directory.appendingPathComponent("berth.toml").path
        try config.write(toFile: configFile, atomically: true, encoding: .utf8)
        let server = try AuditDurabilityTests.ServerProcess(databasePath: databasePath, configFile: configFile)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            try await body(server, client, databasePath)
        } catch {
            server.kill()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func shutDownGracefully(_ server: AuditDurabilityTests.ServerProcess, _ client: HTTPClient, runID: String) async throws {
        try await server.waitUntilServing(client)
        var browser = AuditDurabilityTests.HTTPBrowser(client: client, base: server.base)
        try await browser.signIn("bt-operator")

        let stream = try await EventStreamConnection.open(server.base + "/events/stream", cookie: browser.cookie)
        defer { stream.close() }
        #expect(stream.status == 200)
        // The stream's opening comment has arrived: it is registered and waiting.
        #expect(await eventually(.seconds(5)) { stream.heartbeats >= 1 })

        // A foreground run that takes two seconds is in flight when the signal comes.
        let signedIn = browser
        let running = Task {
            try await signedIn.request("/containers/run", method: .POST, form: [
                ("_csrf", signedIn.csrf), ("image", "busybox"), ("command", "sleep 2"), ("network", "none"),
                ("autoRemove", "1"), ("labels", "\(TestEngine.label)=1\nberth.test.run=\(runID)"),
            ])
        }
        try await Task.sleep(for: .milliseconds(700))
        let signalled = ContinuousClock.now
        #expect(kill(server.process.processIdentifier, SIGTERM) == 0)

        let end = try #require(await stream.next("end", timeout: .seconds(5)), "the stream got no end event")
        #expect(end.found.json?["final"] as? Bool == false, "the page reconnects to the restarted server")
        #expect(ContinuousClock.now - signalled < .seconds(3))

        let (status, _, page) = try await running.value
        #expect(status == 200)
        #expect(page.contains(#"<dd class="exit-code">0</dd>"#))

        #expect(await eventually(.seconds(10)) { !server.process.isRunning }, "berth still runs 10 s after SIGTERM")
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
    }

    static func cleanUp(_ engine: EngineClient, _ runID: String) async throws {
        for container in try await engine.listContainers(all: true, filters: .init(label: ["berth.test.run=\(runID)"])) {
            try? await engine.removeContainer(container.id, force: true)
        }
    }
}
