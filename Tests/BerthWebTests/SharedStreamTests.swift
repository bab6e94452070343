@testable import BerthWeb
import EngineAPI
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TestSupport

/// The sharing and bounding of streams: one engine connection per topic, slow readers that cost nothing to others.
/// One test at a time: the fast-writing container of one would otherwise load the machine under another's timing.
@Suite(.serialized) struct SharedStreamTests {
    /// Berth in front of a relay to the real engine, so the test can count the engine connections it holds.
    func withRelayedApp(heartbeat: Duration = .milliseconds(300), _ body: @Sendable (LiveStreamApp, EngineSocketRelay) async throws -> Void) async throws {
        guard case .unix(let socket) = try TestEngine.address() else {
            throw TestSetupError("the relay needs the engine on a Unix socket")
        }
        let relay = EngineSocketRelay(upstream: socket)
        try await relay.start()
        do {
            try await withLiveStreamApp(engine: .unix(path: relay.path), heartbeat: heartbeat) { live in try await body(live, relay) }
            await relay.stop()
        } catch {
            await relay.stop()
            throw error
        }
    }

    func waitFor(_ timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// A wall of screens on one dashboard: an event that changes the selection makes each screen read the table
    /// again, from engine reads they share (a screen may join a reading that started after it was told), not one each.
    @Test func aWallOfScreensOnOneDashboardSharesTheReadsAnEventCauses() async throws {
        try await TestEngine.withContainers { _, scope in
            let tag = String(UUID().uuidString.prefix(8).lowercased())
            let first = TestEngine.uniqueName("wall")
            let firstId = try await scope.busybox(["sleep", "60"], name: first, labels: ["berth.test.wall": tag])
            try await withRelayedApp { live, relay in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await createDashboard(live.client, owner, [
                    ("title", "Wall \(tag)"), ("kind", "labels"), ("selection", "berth.test.wall=\(tag)"), ("showStatus", "on"),
                ])
                let screens = 8
                var streams: [EventStreamConnection] = []
                for _ in 0..<screens { streams.append(try await live.open("/dashboards/\(id)/stream", as: owner)) }
                defer { for stream in streams { stream.close() } }
                for stream in streams {
                    let initial = try #require(await stream.next("containers", timeout: .seconds(20))).found
                    #expect(containerNames(initial) == [first])
                }
                // Past each screen's pause after a reading.
                try await Task.sleep(for: .milliseconds(700))

                // A container outside the selection: its events make each screen read the table again, and the table
                // that did not change is not sent again.
                let unrelatedLists = relay.requests(to: "/containers/json")
                try await scope.busybox(["sleep", "60"], name: TestEngine.uniqueName("wall-other"))
                let again = await streams[0].next("containers", timeout: .seconds(2))
                #expect(again?.found == nil, "an unchanged table was sent again: \(again?.found.data ?? "")")
                #expect(relay.requests(to: "/containers/json") > unrelatedLists, "the table was not read again")
                try await Task.sleep(for: .milliseconds(700))

                let lists = relay.requests(to: "/containers/json")
                let inspects = relay.requests(to: "/containers/\(firstId)/json")

                let later = TestEngine.uniqueName("wall-later")
                try await scope.busybox(["sleep", "60"], name: later, labels: ["berth.test.wall": tag])
                for stream in streams {
                    var names: [String] = []
                    while names != [first, later].sorted(), let event = await stream.next("containers", timeout: .seconds(20)) {
                        names = containerNames(event.found)
                    }
                    #expect(names == [first, later].sorted())
                }
                // Its create and its start each made every screen read the table again: one list call each would be
                // at least as many as the screens.
                let listed = relay.requests(to: "/containers/json") - lists
                let inspected = relay.requests(to: "/containers/\(firstId)/json") - inspects
                #expect(listed >= 1 && listed < screens, "\(listed) list calls for \(screens) screens")
                #expect(inspected >= 1 && inspected < screens, "\(inspected) inspects of one container for \(screens) screens")
            }
        }
    }

    @Test func fiftyEventPagesShareOneEngineConnectionThatClosesWhenTheyLeave() async throws {
        let heartbeat = Duration.seconds(1)
        try await withRelayedApp(heartbeat: heartbeat) { live, relay in
            let browser = try await signIn(live.client, as: "bt-viewer")
            var streams: [EventStreamConnection] = []
            for _ in 0..<50 { streams.append(try await live.open("/events/stream?type=container", as: browser)) }
            #expect(await waitFor(.seconds(5)) { live.streams.events.subscriberCount(EventsController.topic) == 50 })
            #expect(await waitFor(.seconds(5)) { relay.openConnections(to: "/events") == 1 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(relay.openConnections(to: "/events") == 1)

            // One engine event reaches every page.
            let id = try await TestEngine.withContainers { _, scope in
                let id = try await scope.busybox(["true"], start: false)
                try await TestEngine.withClient { engine in _ = try await engine.startContainer(id) }
                return id
            }
            for stream in streams {
                var got = false
                while let event = await stream.next("event", timeout: .seconds(10)) {
                    if event.found.json?["id"] as? String == id && event.found.json?["action"] as? String == "start" {
                        got = true
                        break
                    }
                }
                #expect(got)
            }

            for stream in streams { stream.close() }
            // A server side notices at a heartbeat write (the first write after the peer left may still succeed, the
            // next fails): within two heartbeats, plus a second for a loaded machine. The last one out closes the
            // engine stream.
            #expect(await waitFor(heartbeat * 2 + .seconds(1)) { relay.openConnections(to: "/events") == 0 })
            #expect(live.streams.events.activeTopics == 0)
        }
    }

    @Test func aPageThatReconnectsGetsTheEventsItMissed() async throws {
        try await withLiveStreamApp { live in
            let browser = try await signIn(live.client, as: "bt-viewer")
            try await TestEngine.withContainers { engine, scope in
                // Other tests create containers at the same time: look for ours among the events.
                func waitForCreate(of id: String, on stream: EventStreamConnection) async -> (found: ReceivedEvent, before: [ReceivedEvent])? {
                    var before: [ReceivedEvent] = []
                    while let next = await stream.next("event", timeout: .seconds(10)) {
                        before += next.before
                        if next.found.json?["id"] as? String == id { return (next.found, before) }
                        before.append(next.found)
                    }
                    return nil
                }
                let first = try await live.open("/events/stream?type=container&action=create", as: browser)
                let one = try await scope.busybox(["true"], start: false)
                let seen = try #require(await waitForCreate(of: one, on: first))
                first.close()
                let lastID = try #require(seen.found.id)
                // Happens while the page is away.
                let two = try await scope.busybox(["true"], start: false)
                let again = try await live.open("/events/stream?type=container&action=create", as: browser, lastEventID: lastID)
                defer { again.close() }
                let missed = try #require(await waitForCreate(of: two, on: again))
                // Nothing the page already had comes again.
                #expect(!missed.before.contains { $0.json?["id"] as? String == one })
                _ = engine
            }
        }
    }

    /// The reviewers' reproduction (issue 17, item 5): every page on a log held engine connections of its own, and
    /// 150 pages cost dockerd 1,438 descriptors. Now the pages of one container share one followed connection; each
    /// catches up on its own with a short read that ends, and still gets every line once, in order.
    @Test func thirtyLogPagesOfOneContainerShareOneFollowedConnection() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "i=0; while :; do echo \"n $i\"; i=$((i+1)); usleep 20000; done"])
            try await withRelayedApp { live, relay in
                let browser = try await signIn(live.client, as: "bt-viewer")
                var streams: [EventStreamConnection] = []
                for index in 0..<30 {
                    streams.append(try await live.open("/logs/stream?container=\(id)&tail=all", as: browser))
                    // Some pages join a tail that has run for a while.
                    if index % 10 == 9 { try await Task.sleep(for: .milliseconds(500)) }
                }
                func followed() -> Int { relay.openConnections(to: "\(id)/logs?stdout=1&stderr=1&timestamps=1&follow=1") }
                func allLogs() -> Int { relay.openConnections(to: "\(id)/logs") }
                #expect(await waitFor(.seconds(15)) { allLogs() == 1 }, "engine log connections: \(allLogs())")
                #expect(followed() == 1)
                #expect(live.streams.tails.subscriberCount(id) == 30)

                // Every page has every line from the first, once and in order.
                for (index, stream) in streams.enumerated() {
                    let (lines, _) = await collectLines(stream, timeout: .seconds(30)) { $0.count >= 200 }
                    let numbers = lines.compactMap { Int($0.text.dropFirst(2)) }
                    #expect(numbers.count >= 200 && numbers == Array(0..<numbers.count), "page \(index): \(numbers.prefix(5))… \(numbers.count) lines")
                }
                #expect(followed() == 1)

                // A page that comes back with its last position gets what came after, from a read of its own.
                let (seen, _) = await collectLines(streams[0], timeout: .seconds(10)) { !$0.isEmpty }
                let last = try #require(seen.last)
                let resumed = try await live.open("/logs/stream?container=\(id)&tail=all", as: browser, lastEventID: last.eventID)
                defer { resumed.close() }
                let (after, _) = await collectLines(resumed, timeout: .seconds(10)) { $0.count >= 20 }
                let lastNumber = try #require(Int(last.text.dropFirst(2)))
                let afterNumbers = after.compactMap { Int($0.text.dropFirst(2)) }
                #expect(afterNumbers.first.map { $0 <= lastNumber + 1 } == true, "resumed at \(afterNumbers.first ?? -1) after \(lastNumber)")
                #expect(afterNumbers.first.map { afterNumbers == Array($0..<$0 + afterNumbers.count) } == true)
                #expect(afterNumbers.first.map { $0 > lastNumber } == true)

                for stream in streams { stream.close() }
                resumed.close()
                // The last page out closes the followed connection.
                #expect(await waitFor(.seconds(5)) { allLogs() == 0 && live.streams.tails.activeTopics == 0 })
            }
        }
    }

    /// A page that stops reading a fast log falls behind the shared tail: it is dropped from the tail (nobody waits for
    /// it) and holds no engine connection while it does not read; it catches up from its own position when it reads
    /// again, and has lost and repeated nothing.
    @Test func aPageThatFellBehindTheSharedTailCatchesUpWithoutLoss() async throws {
        try await TestEngine.withContainers { _, scope in
            let total = 60_000
            let id = try await scope.busybox(
                ["sh", "-c", "i=0; while [ $i -lt \(total) ]; do echo \"n $i\"; i=$((i+1)); done; sleep 600"]
            )
            try await withRelayedApp { live, relay in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let port = try #require(live.client.port)
                // A page that keeps reading holds the tail open the whole time.
                let reading = try await live.open("/logs/stream?container=\(id)&tail=0", as: browser)
                defer { reading.close() }
                let slow = try RawEventReader(port: port, path: "/logs/stream?container=\(id)&tail=all", cookie: browser.cookie)
                defer { slow.close() }
                // It stops reading while the container writes: its catch-up lets go of the engine once its queue has
                // been full for a while.
                try await Task.sleep(for: .seconds(2))
                #expect(await waitFor(LogFollower.stallLimit + .seconds(10)) { relay.openConnections(to: "\(id)/logs") == 1 }, "engine log connections: \(relay.openConnections(to: "\(id)/logs"))")
                #expect(relay.openConnections(to: "\(id)/logs?stdout=1&stderr=1&timestamps=1&follow=1") == 1)
                var numbers: [Int] = []
                let deadline = ContinuousClock.now + .seconds(90)
                while numbers.last != total - 1, ContinuousClock.now < deadline {
                    let events = try await slow.readEvents()
                    for event in events where event.event == "logs" {
                        numbers += LogLineSeen.parse(event).compactMap { Int($0.text.dropFirst(2)) }
                    }
                    if events.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(numbers.count == total, "got \(numbers.count) of \(total) lines")
                #expect(numbers == Array(0..<numbers.count), "lines lost or repeated")
            }
        }
    }

    /// A catch-up reads the engine's history only as fast as its reader takes it: a reader that never reads was sent
    /// whole queues before (512 KiB, each line decoded by the engine and rendered by Berth for nothing). When the reader
    /// comes back, every line arrives, once and in order.
    @Test func aCatchUpQueuesLittleAheadOfItsReaderAndLosesNothing() async throws {
        try await TestEngine.withContainers { _, scope in
            let lines = 20000
            let id = try await scope.busybox(["sh", "-c", "seq 1 \(lines) | sed 's/$/ of a history long enough to fill many queues/'; sleep 3600"])
            try await Task.sleep(for: .seconds(2))
            try await withLiveStreamApp { live in
                try await TestEngine.withClient { engine in
                    let mailbox = Mailbox<LogStreamMessage>(capacity: 256, byteLimit: EventStreamer.queuedBytesLimit, weight: LogStreamMessage.weight)
                    let follower = LogFollower(engine: engine, tails: live.streams.tails, container: id, tty: false, tail: nil, resumeAfter: nil)
                        .sending(into: mailbox) { await mailbox.send($0, merge: LogStreamMessage.merge) }
                    let task = Task { await follower.run() }
                    defer { task.cancel() }
                    #expect(await waitFor(.seconds(10)) { mailbox.queuedBytes >= LogFollower.readAhead })
                    try await Task.sleep(for: .seconds(1))
                    // Ahead by its read-ahead and the engine read that crossed it (a merged message of at most 64 KiB
                    // of lines, as allocated), far from the queue's 512 KiB.
                    #expect(mailbox.peakBytes <= LogFollower.readAhead + 2 * LogStreamMessage.mergedBytesLimit, "queued \(mailbox.peakBytes) bytes ahead")

                    var numbers: [Int] = []
                    let deadline = ContinuousClock.now + .seconds(30)
                    while numbers.count < lines, ContinuousClock.now < deadline {
                        let taken = mailbox.takeQueued(limit: 256)
                        if taken.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                        for case .lines(_, let batch) in taken {
                            for entry in batch.entries {
                                batch.withBytes(of: entry) { numbers.append(Int(String(decoding: $0.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)) ?? -1) }
                            }
                        }
                    }
                    #expect(numbers == Array(1...lines), "\(numbers.count) lines, first \(numbers.prefix(3)), last \(numbers.suffix(3))")
                }
            }
        }
    }

    @Test func aReaderThatStopsReadingCostsBoundedMemoryAndSlowsNobody() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(
                ["sh", "-c", "i=0; while :; do echo \"fast line $i with some padding to make it longer than a few bytes\"; i=$((i+1)); done"],
                logConfig: LogConfig(type: "json-file", config: ["max-size": "20m", "max-file": "2"])
            )
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let port = try #require(live.client.port)
                let before = residentBytes()
                let stalled = try await StalledReader(port: port, path: "/logs/stream?container=\(id)&tail=0", cookie: browser.cookie)
                let stalledEvents = try await StalledReader(port: port, path: "/events/stream", cookie: browser.cookie)
                let reader = try await live.open("/logs/stream?container=\(id)&tail=0", as: browser)
                defer { reader.close() }
                var received = 0
                var peak = before
                // (The first lines may take a few seconds on a loaded machine: the stuck reader's engine connection
                // and the reading page's start at once.)
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline {
                    if let event = await reader.next(timeout: .seconds(2)), event.event == "logs" {
                        received += LogLineSeen.parse(event).count
                    }
                    peak = max(peak, residentBytes())
                }
                // The reading page keeps getting lines while the other one is stuck (a debug build reads slowly; the
                // throughput is measured in bench/, not here).
                #expect(received > 100)
                let more = await collectLines(reader, timeout: .seconds(5)) { $0.count > 100 }
                #expect(more.lines.count > 100, "still live after \(received) lines")
                // The stuck reader holds at most its mailbox and the socket buffers: far below this bound.
                #expect(peak - before < 64 * 1024 * 1024, "resident memory grew by \((peak - before) / 1024 / 1024) MiB")
                await stalled.close()
                await stalledEvents.close()
            }
        }
    }
}

@Suite struct MailboxTests {
    @Test func aFullMailboxDropsAndTellsTheReaderHowMany() async {
        let mailbox = Mailbox<Int>(capacity: 3)
        for value in 1...5 { mailbox.offer(value) }
        var items: [String] = []
        for _ in 0..<4 {
            switch await mailbox.next() {
            case .element(let value): items.append("\(value)")
            case .gap(let count): items.append("gap \(count)")
            default: items.append("?")
            }
        }
        #expect(items == ["gap 2", "1", "2", "3"])
        #expect(!mailbox.isOverflowed)
    }

    @Test func queuedMessagesCanBeTakenTogetherButNeverPastAGap() {
        let mailbox = Mailbox<Int>(capacity: 4)
        for value in 1...3 { mailbox.offer(value) }
        #expect(mailbox.takeQueued(limit: 2) == [1, 2])
        #expect(mailbox.takeQueued(limit: 10) == [3])
        #expect(mailbox.takeQueued(limit: 10).isEmpty)
        for value in 4...9 { mailbox.offer(value) }
        // Two were dropped: the reader must hear of the gap first, through next().
        #expect(mailbox.takeQueued(limit: 10).isEmpty)
    }

    @Test func aReaderThatStaysBehindIsGivenUp() {
        let mailbox = Mailbox<Int>(capacity: 3)
        // Three fit, three more are dropped: behind, but not yet by more than a whole queue.
        for value in 1...6 { mailbox.offer(value) }
        #expect(!mailbox.isOverflowed)
        mailbox.offer(7)
        #expect(mailbox.isOverflowed)
        #expect(mailbox.isFinished)
        #expect(!mailbox.offer(8))
    }

    @Test func sendWaitsForRoomInsteadOfDropping() async {
        let mailbox = Mailbox<Int>(capacity: 2)
        let producer = Task {
            for value in 1...6 { _ = await mailbox.send(value) }
            mailbox.finish()
        }
        var values: [Int] = []
        while let item = await mailbox.next() {
            if case .element(let value) = item { values.append(value) }
        }
        await producer.value
        #expect(values == [1, 2, 3, 4, 5, 6])
    }

    @Test func closingWakesAWaitingReaderAndProducer() async {
        let mailbox = Mailbox<Int>(capacity: 1)
        _ = await mailbox.send(1)
        let producer = Task { await mailbox.send(2) }
        try? await Task.sleep(for: .milliseconds(50))
        mailbox.close(reason: "signed out")
        #expect(await producer.value == false)
        let after = await mailbox.next()
        #expect(after == nil ? true : false)
        #expect(mailbox.closeReason == "signed out")
    }
}


@Suite struct AsyncGateTests {
    @Test func atMostThePermitsHoldItAndTheRestGetTheirTurn() async {
        let gate = AsyncGate(permits: 2)
        #expect(await gate.acquire())
        #expect(await gate.acquire())
        let order = NIOLockedValueBox<[Int]>([])
        let waiters = (1...3).map { number in
            Task {
                guard await gate.acquire() else { return }
                order.withLockedValue { $0.append(number) }
            }
        }
        // All three wait while two hold it.
        try? await Task.sleep(for: .milliseconds(100))
        #expect(order.withLockedValue { $0 }.isEmpty)
        gate.release()
        gate.release()
        try? await Task.sleep(for: .milliseconds(100))
        #expect(order.withLockedValue { $0 }.count == 2)
        gate.release()
        for waiter in waiters { await waiter.value }
        #expect(Set(order.withLockedValue { $0 }) == [1, 2, 3])
    }

    @Test func aCancelledWaiterLeavesWithoutAPermit() async {
        let gate = AsyncGate(permits: 1)
        #expect(await gate.acquire())
        let waiter = Task { await gate.acquire() }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == false)
        // The permit still goes to the next one, and only one holds it.
        gate.release()
        #expect(await gate.acquire())
        let another = Task { await gate.acquire() }
        try? await Task.sleep(for: .milliseconds(50))
        another.cancel()
        #expect(await another.value == false)
    }
}
