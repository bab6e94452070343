import EngineAPI
import Foundation
import Testing
import TestSupport

/// Logs are read on a connection of their own (not the HTTP client's pool): its errors, its end, and that dropping a
/// followed log closes that connection, against the real engine.
@Suite struct StreamedLogsTests {
    @Test func aMissingContainersLogsAreTheDaemonsNotFound() async throws {
        try await TestEngine.withClient { client in
            let name = TestEngine.uniqueName("missing")
            await #expect {
                _ = try await client.containerLogs(name, tty: false)
            } throws: { error in
                guard let error = error as? EngineError, case .daemon(404, let message) = error else { return false }
                return message.contains("No such container") && message.contains(name)
            }
        }
    }

    @Test func anEngineThatIsNotThereIsUnreachable() async throws {
        try await TestEngine.withClient(address: .unix(path: "/tmp/berth-no-such-engine.sock"), apiVersion: .minimum) { client in
            await #expect {
                _ = try await client.containerLogs("whatever", tty: false)
            } throws: { error in
                guard case .unreachable(_, let reason) = error as? EngineError else { return false }
                return reason == "no socket at that path"
            }
        }
    }

    @Test func aFollowedLogDeliversLinesLiveAndItsConnectionClosesWhenDropped() async throws {
        guard case .unix(let socket) = try TestEngine.address() else {
            throw TestSetupError("the relay needs the engine on a Unix socket")
        }
        let relay = EngineSocketRelay(upstream: socket)
        try await relay.start()
        do {
            try await followAndDrop(relay: relay)
            await relay.stop()
        } catch {
            await relay.stop()
            throw error
        }
    }

    func followAndDrop(relay: EngineSocketRelay) async throws {
        try await TestEngine.withClient(address: .unix(path: relay.path)) { client in
            let scope = ContainerScope(client: client)
            do {
                let id = try await scope.busybox(["sh", "-c", "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.1; done"])
                let started = ContinuousClock.now
                var lines = 0
                do {
                    let logs = try await client.containerLogs(id, options: LogOptions(follow: true), tty: false)
                    #expect(relay.openConnections(to: "/logs") == 1)
                    for try await frame in logs {
                        lines += frame.text.filter { $0 == "\n" }.count
                        if lines >= 5 { break }
                    }
                }
                // Five lines a tenth of a second apart: live, not at the end of anything.
                #expect(lines >= 5)
                #expect(ContinuousClock.now - started < .seconds(10))
                // The sequence and its iterator are gone: the connection closes.
                let deadline = ContinuousClock.now + .seconds(5)
                while relay.openConnections(to: "/logs") > 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(relay.openConnections(to: "/logs") == 0)
                await scope.removeAll()
            } catch {
                await scope.removeAll()
                throw error
            }
        }
    }

    @Test func aFinishedLogEndsAndALargeOutputArrivesWhole() async throws {
        try await TestEngine.withContainers { client, scope in
            // 3,000 lines of 100 bytes: many chunks and many socket reads.
            let id = try await scope.busybox(["sh", "-c", "i=1; while [ $i -le 3000 ]; do printf 'line %08d %085d\\n' $i 0; i=$((i+1)); done"])
            #expect(try await client.waitContainer(id).statusCode == 0)
            let logs = try await client.containerLogs(id, options: LogOptions(follow: true), tty: false).collect()
            let lines = logs.stdoutText.split(separator: "\n")
            #expect(lines.count == 3000)
            #expect(lines.first?.hasPrefix("line 00000001 ") == true)
            #expect(lines.last?.hasPrefix("line 00003000 ") == true)
            #expect(lines.allSatisfy { $0.utf8.count == 99 })
        }
    }

    /// The reviewers' reproduction: one viewer's 360 log views of 20 containers ran dockerd out of descriptors. The
    /// client holds at most `maxStreams` log connections, followed logs at most all but the last eighth of them (at
    /// least one is kept for reads that end by themselves); one more is `busy` until one closes.
    @Test func followedLogsAreCappedAndASlotComesBackWhenOneCloses() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "while :; do echo tick; sleep 0.2; done"])
            let client = EngineClient(address: try TestEngine.address(), maxStreams: 3)
            do {
                let first = try await client.containerLogs(id, options: LogOptions(follow: true), tty: false)
                var second: ContainerLogs? = try await client.containerLogs(id, options: LogOptions(follow: true), tty: false)
                #expect(client.openStreams == 2)
                await #expect(performing: { _ = try await client.containerLogs(id, options: LogOptions(follow: true), tty: false) }, throws: { error in
                    guard case .busy(let message) = error as? EngineError else { return false }
                    return message.contains("(2)")
                })
                // The kept slot: a read of what was logged, which ends.
                let logged = try await client.containerLogs(id, options: LogOptions(tail: 1), tty: false).collect()
                #expect(logged.stdoutText == "tick\n")
                _ = second
                second = nil
                let deadline = ContinuousClock.now + .seconds(5)
                while client.openStreams > 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(client.openStreams == 1, "the dropped log gave its connection back")
                let third = try await client.containerLogs(id, options: LogOptions(follow: true), tty: false)
                _ = (first, third)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}
