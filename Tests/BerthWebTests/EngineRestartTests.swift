@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import Testing
import TestSupport

/// Stops and starts the real test engine under open streams. `scripts/test` runs this suite on a second private
/// engine (BERTH_ENGINE_DIR, DOCKER_HOST) that no other suite uses meanwhile, since every other test needs its engine.
@Suite(.serialized) struct EngineRestartTests {
    /// Runs `scripts/engine verb`, passing none of the test's sockets on to the daemon it starts.
    func engineScript(_ verb: String) async throws {
        let script = Repository.root.appendingPathComponent("scripts/engine").path
        let status = try await ChildProcess.run("/bin/bash", [script, verb])
        guard status == 0 else { throw TestSetupError("scripts/engine \(verb) exited with \(status)") }
    }

    @Test func aConsoleSaysSoWhenTheEngineStopsMidSession() async throws {
        try await withConsoleFixture { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            do {
                let transcript = try await console(port: port, browser: admin, container: name) { console in
                    try await console.waitForPrompt()
                    try await engineScript("down")
                    try await console.waitUntilClosed(timeout: .seconds(30))
                }
                try await engineScript("up")
                // A stopping engine stops its containers first (the process ends with them) or drops the connection;
                // either way the page says which.
                let last = try #require(transcript.events.last)
                let message = last["message"] as? String ?? ""
                #expect(last["type"] as? String == "closed", "\(transcript.events)")
                #expect(message.contains("The container stopped") || message.contains("connection to the engine was lost"), "\(last)")
                let closed = try #require(try await app.auditEvents().first { $0.action == "console.close" })
                let ended = try parameters(of: closed)["ended"]
                #expect(ended == "container stopped" || ended == "engine connection lost", "\(String(describing: ended))")
                #expect(try parameters(of: closed)["recordingSha256"] != nil, "the recording is closed and hashed all the same")
            } catch {
                try? await engineScript("up")
                throw error
            }
        }
    }

    @Test func streamsSayWhenTheEngineGoesAndResumeWhenItReturns() async throws {
        try await TestEngine.withContainers { engine, scope in
            // Stops at once on TERM (a shell as PID 1 ignores it otherwise); the restart policy brings it back with the engine.
            let id = try await scope.busybox(
                ["sh", "-c", "trap 'exit 0' TERM; i=0; while :; do echo tick $i; i=$((i+1)); usleep 200000; done"],
                restartPolicy: RestartPolicy(name: "always")
            )
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let logs = try await live.open("/logs/stream?container=\(id)", as: browser)
                let events = try await live.open("/events/stream?type=container", as: browser)
                defer { logs.close(); events.close() }
                let (before, _) = await collectLines(logs) { $0.count >= 3 }
                #expect(before.count >= 3)

                try await engineScript("down")
                do {
                    let down = try #require(await events.next("engine", timeout: .seconds(20)))
                    #expect(down.found.json?["state"] as? String == "down")
                    var logStates: [String] = []
                    while let status = await logs.next("status", timeout: .seconds(20)) {
                        logStates.append(status.found.json?["state"] as? String ?? "")
                        if logStates.last == "engine-down" { break }
                    }
                    #expect(logStates.last == "engine-down")
                    try await engineScript("up")
                } catch {
                    try? await engineScript("up")
                    throw error
                }

                let up = try #require(await events.next("engine", timeout: .seconds(30)))
                #expect(up.found.json?["state"] as? String == "up")
                var after: [LogLineSeen] = []
                var states: [String] = []
                let deadline = ContinuousClock.now + .seconds(30)
                while after.count < 3, ContinuousClock.now < deadline {
                    guard let event = await logs.next(timeout: .seconds(30)) else { break }
                    if event.event == "status" { states.append(event.json?["state"] as? String ?? "") }
                    after += LogLineSeen.parse(event)
                }
                #expect(states.contains("engine-up"))
                // The container started afresh, so its count starts again; nothing from before comes twice.
                #expect(after.count >= 3)
                #expect(after.first?.text == "tick 0")
                #expect(Set(before.map(\.eventID)).isDisjoint(with: after.map(\.eventID)))
                _ = engine
                // Leaving releases everything, also after a restart.
                logs.close()
                events.close()
                let deadline2 = ContinuousClock.now + .seconds(2)
                while live.streams.open.openStreams + live.streams.upstreams > 0, ContinuousClock.now < deadline2 {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(live.streams.open.openStreams == 0)
                #expect(live.streams.upstreams == 0)
            }
        }
    }
}
