@testable import BerthWeb
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

/// The one clock behind every open stream's heartbeat, and where a request's work runs.
@Suite struct StreamRegistryTests {
    /// Beats counted per stream.
    final class Beats: Sendable {
        private let counts = NIOLockedValueBox([Int: Int]())
        func beat(_ stream: Int) { counts.withLockedValue { $0[stream, default: 0] += 1 } }
        var counted: [Int: Int] { counts.withLockedValue { $0 } }
    }

    /// Holds whoever waits until it is opened.
    final class Latch: Sendable {
        private let state = NIOLockedValueBox((open: false, waiting: [CheckedContinuation<Void, Never>]()))
        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if state.open { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
        func open() {
            let waiting = state.withLockedValue { state in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    /// Polls until `condition` holds, up to a deadline generous for a loaded machine.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    @Test func everyStreamGetsABeatEachHeartbeatFromOneTicker() async throws {
        let registry = StreamRegistry(heartbeat: .milliseconds(320))
        let beats = Beats()
        // More streams than phases, in two keys, and one that keeps its own watch (a console).
        let started = ContinuousClock.now
        var registrations = (0..<40).map { stream in
            registry.register(sessionKey: stream % 2 == 0 ? "a" : "b", beat: { beats.beat(stream) }, close: { _ in })
        }
        let console = registry.register(sessionKey: "a", close: { _ in })
        #expect(registry.openStreams == 41)
        #expect(registry.openStreams(key: "a") == 21)
        #expect(try await Self.eventually { beats.counted.count == 40 && beats.counted.values.allSatisfy { $0 >= 2 } })
        // Never more than one beat a heartbeat (a late clock gives fewer, never more): at most one more than the
        // heartbeats gone by.
        let heartbeats = Int((ContinuousClock.now - started) / .milliseconds(320))
        #expect(beats.counted.values.allSatisfy { $0 <= heartbeats + 1 }, "\(beats.counted) in \(heartbeats) heartbeats")

        // Streams that went get no more beats (one already under way may still land); the others go on.
        for registration in registrations[..<20] { registry.unregister(registration) }
        registrations.removeFirst(20)
        try await Task.sleep(for: .milliseconds(100))
        let before = beats.counted
        #expect(try await Self.eventually { (20..<40).allSatisfy { beats.counted[$0, default: 0] >= before[$0, default: 0] + 2 } })
        #expect((0..<20).allSatisfy { beats.counted[$0] == before[$0] })

        for registration in registrations { registry.unregister(registration) }
        registry.unregister(console)
        #expect(registry.openStreams == 0)
        // With none left the ticker stops; a new stream starts it again.
        try await Task.sleep(for: .milliseconds(100))
        let again = registry.register(sessionKey: "c", beat: { beats.beat(100) }, close: { _ in })
        #expect(try await Self.eventually { beats.counted[100, default: 0] >= 1 })
        registry.unregister(again)
    }

    /// A beat that does not return (an account database that hangs) holds back its own stream, not the others.
    @Test func aHungBeatHoldsBackOnlyItsOwnStream() async throws {
        let registry = StreamRegistry(heartbeat: .milliseconds(160))
        let beats = Beats()
        let hang = Latch()
        // Every stream of phase 1 hangs, more of them than are asked at once.
        let hung = (0..<(StreamRegistry.concurrentBeats + 2)).map { 1 + $0 * StreamRegistry.phases }
        var registrations: [StreamRegistry.Registration] = []
        for number in 1...(hung.last! + 1) {
            registrations.append(registry.register(sessionKey: "k", beat: {
                beats.beat(number)
                if hung.contains(number) { await hang.wait() }
            }, close: { _ in }))
        }
        #expect(registrations.map(\.number) == Array(1...(hung.last! + 1)))
        let others = (1...(hung.last! + 1)).filter { !hung.contains($0) }
        #expect(try await Self.eventually { others.allSatisfy { beats.counted[$0, default: 0] >= 4 } })
        // The hung ones were asked once at most (those beyond the phase's few at a time wait their turn), and not
        // again while they hang.
        #expect(hung.allSatisfy { beats.counted[$0, default: 0] <= 1 }, "\(beats.counted)")
        hang.open()
        #expect(try await Self.eventually { hung.allSatisfy { beats.counted[$0, default: 0] >= 2 } })
        for registration in registrations { registry.unregister(registration) }
    }

    @Test func closingAKeyClosesOnlyItsStreams() {
        let registry = StreamRegistry(heartbeat: .seconds(30))
        let closed = NIOLockedValueBox([String]())
        let a1 = registry.register(sessionKey: "a", beat: {}, close: { reason in closed.withLockedValue { $0.append("a1 " + reason) } })
        let a2 = registry.register(sessionKey: "a", close: { reason in closed.withLockedValue { $0.append("a2 " + reason) } })
        let b = registry.register(sessionKey: "b", beat: {}, close: { reason in closed.withLockedValue { $0.append("b " + reason) } })
        registry.closeAll(sessionKey: "a", reason: "signed out")
        #expect(closed.withLockedValue { $0 }.count == 2)
        #expect(!closed.withLockedValue { $0 }.contains { $0.hasPrefix("b") })
        #expect(registry.openStreams(key: "a") == 0)
        #expect(registry.openStreams(key: "b") == 1)
        // Still open until each stream's own end unregisters it.
        #expect(registry.openStreams == 3)
        for registration in [a1, a2, b] { registry.unregister(registration) }
        #expect(registry.openStreams == 0)
    }

    /// A session's many streams share what one heartbeat read of it, for a moment only.
    @Test func aHeartbeatAnswerIsUsedAgainOnlyBriefly() async throws {
        let answers = SharedReads<String, SessionManager.Resolution>()
        let lifetime = Duration.seconds(1)
        let reads = NIOLockedValueBox(0)
        func answer(for key: String) async throws -> SessionManager.Resolution {
            try await answers.value(key, since: .now - lifetime) {
                reads.withLockedValue { $0 += 1 }
                return .ended(username: "alice", reason: "idle timeout")
            }
        }
        _ = try await answer(for: "a")
        guard case .ended(let username, _) = try await answer(for: "a") else {
            Issue.record("the answer was not kept")
            return
        }
        #expect(username == "alice")
        #expect(reads.withLockedValue { $0 } == 1)
        _ = try await answer(for: "b")
        #expect(reads.withLockedValue { $0 } == 2)
        try await Task.sleep(for: .milliseconds(1200))
        _ = try await answer(for: "a")
        #expect(reads.withLockedValue { $0 } == 3)
    }

    static func currentTask() -> Int { withUnsafeCurrentTask { $0.map { $0.hashValue } ?? 0 } }

    /// The route runs in a task other than the connection's, which only writes the body: the route's call chain does
    /// not stay with a long-lived connection.
    @Test func aRequestIsAnsweredInATaskOfItsOwn() async throws {
        let router = Router()
        let tasks = NIOLockedValueBox([String: Int]())
        router.get("/probe") { _, _ -> Response in
            tasks.withLockedValue { $0["route"] = Self.currentTask() }
            return Response(status: .ok, body: ResponseBody { writer in
                tasks.withLockedValue { $0["body"] = Self.currentTask() }
                try await writer.write(ByteBuffer(string: "ok"))
                try await writer.finish(nil)
            })
        }
        let app = Application(router: RequestTaskResponderBuilder(builder: router))
        try await app.test(.live) { client in
            try await client.execute(uri: "/probe", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok")
            }
        }
        let seen = tasks.withLockedValue { $0 }
        #expect(seen["route"] != nil && seen["body"] != nil)
        #expect(seen["route"] != seen["body"])
    }
}
