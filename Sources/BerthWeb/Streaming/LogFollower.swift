import EngineAPI
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// What a log stream sends: lines, and what happens to the container and the engine around them.
enum LogStreamMessage: Sendable {
    case lines(container: String, LogBatch)
    /// `stopped`, `running`, `engine-down`, `engine-up`, with a sentence for the page.
    case status(container: String, state: String, message: String)
    /// This container's stream is over (removed, no logs kept, the daemon refused).
    case ended(container: String, reason: String)
    /// Every container's stream is over.
    case finished

    /// Line bytes one message gathers at most when lines are merged (about a read's worth of a fast log).
    static let mergedBytesLimit = 64 * 1024

    /// What a message holds, for a mailbox's byte bound.
    @Sendable static func weight(_ message: LogStreamMessage) -> Int {
        if case .lines(_, let lines) = message { return lines.allocatedBytes }
        return 64
    }

    /// Folds `next` into `queued` when both are lines of the same container and the result stays small: for
    /// ``Mailbox/send(_:merge:)``, so that a log written faster than the page reads it goes out in few large events
    /// rather than one per engine read.
    static func merge(_ queued: inout LogStreamMessage, _ next: LogStreamMessage) -> Bool {
        guard case .lines(let container, var lines) = queued, case .lines(let nextContainer, let more) = next,
            container == nextContainer, lines.byteCount + more.byteCount <= mergedBytesLimit
        else { return false }
        // Let go of the queued copy first, so that the lines are appended in place.
        queued = .finished
        lines.append(contentsOf: more)
        queued = .lines(container: container, lines)
        return true
    }
}

/// Where a reader is in one container's log: the timestamp of the last line it got, and how many lines it got with
/// exactly that timestamp (the engine's `since` includes the second it names, so those are skipped on resume).
struct LogPosition: Sendable, Equatable {
    var timestamp: LogTimestamp
    var count: Int

    mutating func advance(to timestamp: LogTimestamp) {
        if timestamp == self.timestamp {
            count += 1
        } else {
            self = LogPosition(timestamp: timestamp, count: 1)
        }
    }

    /// Past a line stamped `timestamp`; the first line makes the position.
    static func advance(_ position: inout LogPosition?, to timestamp: LogTimestamp) {
        if position == nil {
            position = LogPosition(timestamp: timestamp, count: 1)
        } else {
            position!.advance(to: timestamp)
        }
    }
}

/// The positions of every container of a (merged) log stream, as the `id:` of its events: `shortid=seconds.nanos~n`
/// joined by `;`. A browser that reconnects sends the last one back as `Last-Event-ID`.
struct LogCursor: Sendable {
    private(set) var positions: [String: LogPosition] = [:]

    init() {}

    /// Whether the browser sent a position that can't be resumed from (unreadable, or past now): the stream says so
    /// and starts from the live tail.
    private(set) var wasUnusable = false

    /// `now` + a few seconds is as far as a position may lie ahead (the engine's clock, which stamps the lines, may run
    /// a little ahead of ours); a later one would hold back every line until then.
    init(lastEventID: String?, now: Date = Date()) {
        guard let lastEventID else { return }
        guard lastEventID.utf8.count <= 4096 else {
            wasUnusable = true
            return
        }
        let latest = LogTimestamp(date: now.addingTimeInterval(5))
        for part in lastEventID.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            let stamp = pair.count == 2 ? pair[1].split(separator: "~", maxSplits: 1) : []
            guard stamp.count == 2, let timestamp = LogTimestamp(parsingEngineForm: stamp[0]), let count = Int(stamp[1]), count >= 0,
                  timestamp <= latest
            else {
                wasUnusable = true
                continue
            }
            positions[String(pair[0])] = LogPosition(timestamp: timestamp, count: count)
        }
    }

    static func key(_ container: String) -> String { String(container.prefix(12)) }

    func position(of container: String) -> LogPosition? { positions[Self.key(container)] }

    mutating func set(_ container: String, to position: LogPosition) {
        positions[Self.key(container)] = position
    }

    var eventID: String? {
        guard !positions.isEmpty else { return nil }
        // Built as bytes: this runs for every event of a fast log.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(positions.count * 40)
        for (key, position) in positions.count == 1 ? Array(positions) : positions.sorted(by: { $0.key < $1.key }) {
            if !bytes.isEmpty { bytes.append(UInt8(ascii: ";")) }
            bytes.append(contentsOf: key.utf8)
            bytes.append(UInt8(ascii: "="))
            position.timestamp.write(into: &bytes)
            bytes.append(UInt8(ascii: "~"))
            bytes.append(contentsOf: String(position.count).utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Follows one container's log for a stream, on the engine connection every stream showing that log shares.
///
/// It joins the container's shared live tail (``LogTail``, one `follow` connection per container however many pages
/// watch it) first, so that what the tail reads from then on collects in a small mailbox of its own; then it reads
/// what the page should see before that (its `tail`, or everything after the position a reconnecting page sent) with a
/// short request of its own that ends; then it passes on the tail's lines, skipping those the catch-up already gave
/// (every line has the engine's timestamp, and the position counts lines with an equal one). A page that falls
/// behind the tail (its mailbox overflows) leaves it and catches up again from its position: nothing is lost or
/// repeated, and nobody waits for it.
struct LogFollower: Sendable {
    let engine: EngineClient
    /// The shared live tails, one topic per container id.
    let tails: Broadcaster<LogStreamMessage>
    let container: String
    let tty: Bool
    /// Lines to show first; nil for all.
    let tail: Int?
    /// Where a reconnecting reader left off.
    let resumeAfter: LogPosition?
    /// The container ran when the page was opened (a stopped one's page says so; the tail says when it starts).
    var running = true
    var retryDelay: Duration = .milliseconds(500)
    /// Passes a message on, waiting for room; false when the stream is gone.
    var sendMessage: @Sendable (LogStreamMessage) async -> Bool = { _ in false }
    /// The stream's reader has not taken what is queued for it (``readAhead`` or more, or a full queue): a catch-up
    /// reads no further until it has. One that waits ``stallLimit`` lets go of its engine connection rather than hold it
    /// for a reader that may never come back, and catches up again from its position once the reader reads.
    var isBehind: @Sendable () -> Bool = { false }
    /// Waits until the stream's reader has taken most of what is queued; false when the stream is gone.
    var waitForRoom: @Sendable () async -> Bool = { true }

    /// What a catch-up queues ahead of its reader at most: the engine's history can be read again whenever the reader
    /// wants it, so more only costs. A reader that never reads was sent whole queues before (512 KiB, each line of it
    /// decoded by the engine and rendered by Berth), and a hundred of them opened at once kept the engine too busy to
    /// answer anyone else for seconds.
    static let readAhead = 64 * 1024

    /// This follower, sending into `mailbox` through `send` (which may wrap or redact the message).
    func sending<Message>(into mailbox: Mailbox<Message>, _ send: @escaping @Sendable (LogStreamMessage) async -> Bool) -> LogFollower {
        var follower = self
        follower.sendMessage = send
        follower.isBehind = { mailbox.isFull || mailbox.queuedBytes >= Self.readAhead }
        follower.waitForRoom = { await mailbox.waitUntilQueued(atMost: Self.readAhead / 2) }
        return follower
    }

    /// What the tail may hold for one follower that is catching up or reading slowly, before it is dropped from the
    /// tail and catches up again on its own.
    static let liveCapacity = 256
    static let liveBytes = 256 * 1024
    /// How long a catch-up holds its engine connection for a reader that does not read.
    static let stallLimit = Duration.seconds(10)
    /// Catch-ups read a few at a time, over every stream of the process: many pages opened at once must not make every
    /// page request wait behind their reading. A catch-up waiting for its reader gives its turn up meanwhile.
    static let catchUps = AsyncGate(permits: 4)

    private func send(_ message: LogStreamMessage) async -> Bool { await sendMessage(message) }

    /// Waits for room in the stream's queue for at most `limit`: false when it did not come (or the stream is gone).
    private func roomCame(within limit: Duration) async -> Bool {
        let waitForRoom = self.waitForRoom
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await waitForRoom() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    func run() async {
        var position = resumeAfter
        // Lines the engine stamped before the first join were the first catch-up's to give (or, with `tail=0`, are
        // not wanted): while no line has been sent, the tail's lines count from here.
        let joined = LogTimestamp(date: Date())
        var first = true
        var toldStopped = false
        var outage = EngineOutage(firstDelay: retryDelay)
        var waitingForSlot = false
        while !Task.isCancelled {
            // A reader that stopped: nothing is held for it (no engine connection, no place in the tail) until it reads.
            if isBehind() {
                guard await waitForRoom() else { return }
            }
            let live = Mailbox<LogStreamMessage>(capacity: Self.liveCapacity, byteLimit: Self.liveBytes, weight: LogStreamMessage.weight)
            tails.subscribe(live, to: container)
            defer { tails.unsubscribe(live, from: container) }

            // The catch-up: what came before the tail was joined, up to now.
            if !(first && position == nil && tail == 0) {
                guard await Self.catchUps.acquire() else { return }
                var holding = true
                defer { if holding { Self.catchUps.release() } }
                var options = LogOptions(timestamps: true, follow: false)
                if let position {
                    options.since = position.timestamp.description
                } else if first {
                    options.tail = tail
                } else {
                    options.since = joined.description
                }
                do {
                    let logs = try await engine.containerLogs(container, options: options, tty: tty)
                    // The turn is held for opening and reading, never while waiting for the reader.
                    Self.catchUps.release()
                    holding = false
                    if waitingForSlot {
                        waitingForSlot = false
                        guard await send(.status(container: container, state: "running", message: "Following again.")) else { return }
                    }
                    if let message = outage.recovered() {
                        guard await send(.status(container: container, state: "engine-up", message: message)) else { return }
                    }
                    var filter = LogPositionFilter(resumePoint: position, floor: first ? nil : joined)
                    var assembler = LogLineAssembler(timestamps: true)
                    var letGo = false
                    for try await frames in logs.batches {
                        if !holding {
                            guard await Self.catchUps.acquire() else { return }
                            holding = true
                        }
                        // Before the lines count as sent: what is let go of here is read again from the position.
                        if isBehind() {
                            Self.catchUps.release()
                            holding = false
                            guard await roomCame(within: Self.stallLimit) else {
                                letGo = true
                                break
                            }
                        }
                        var lines = LogBatch()
                        for frame in frames { assembler.feed(frame, into: &lines) }
                        filter.keepNew(&lines, position: &position)
                        if !lines.isEmpty {
                            if holding {
                                Self.catchUps.release()
                                holding = false
                            }
                            guard await send(.lines(container: container, lines)) else { return }
                        }
                    }
                    if letGo { continue }
                    var rest = LogBatch()
                    assembler.finish(into: &rest)
                    filter.keepNew(&rest, position: &position)
                    if !rest.isEmpty { guard await send(.lines(container: container, rest)) else { return } }
                } catch let error as EngineError {
                    // The turn is not held while waiting to try again.
                    if holding {
                        Self.catchUps.release()
                        holding = false
                    }
                    if case .busy(let message) = error {
                        // Berth's own cap on engine connections: wait for a free one, saying so once.
                        if !waitingForSlot {
                            waitingForSlot = true
                            guard await send(.status(container: container, state: "waiting", message: message)) else { return }
                        }
                        try? await Task.sleep(for: retryDelay * 4)
                        continue
                    }
                    if case .unreachable = error {
                        if let message = outage.failed(error) {
                            guard await send(.status(container: container, state: "engine-down", message: message)) else { return }
                        }
                        await outage.pause()
                        continue
                    }
                    // A container being removed (or dead) has no log to read: the tail says what becomes of it.
                    if error.kind != .conflict {
                        let reason = error.kind == .notFound ? "The container was removed." : error.description
                        _ = await send(.ended(container: container, reason: reason))
                        return
                    }
                } catch {
                    return
                }
            }
            if first && !running {
                toldStopped = true
                let message = LogTail.stoppedMessage
                guard await send(.status(container: container, state: "stopped", message: message)) else { return }
            }
            first = false

            // The live tail, from where the catch-up ended.
            var filter = LogPositionFilter(resumePoint: position, floor: position == nil ? joined : nil)
            reading: while let item = await live.next() {
                switch item {
                case .element(.lines(let id, var lines)):
                    filter.keepNew(&lines, position: &position)
                    if !lines.isEmpty { guard await send(.lines(container: id, lines)) else { return } }
                case .element(.status(let id, let state, let message)):
                    // The page was told at the start that the container is stopped; the tail tells the rest.
                    if state == "stopped" && toldStopped { continue }
                    toldStopped = false
                    guard await send(.status(container: id, state: state, message: message)) else { return }
                case .element(.ended(let id, let reason)):
                    _ = await send(.ended(container: id, reason: reason))
                    return
                case .element(.finished), .heartbeat:
                    continue
                case .gap:
                    // Fell behind the tail: catch up again from the position.
                    break reading
                }
            }
            if !live.isOverflowed && !Task.isCancelled {
                // The tail ended without a word (it never does but for a removed container): join a new one soon.
                try? await Task.sleep(for: retryDelay)
            }
        }
    }
}

/// Keeps the lines of a read that a reader at `resumePoint` has not had: the engine's `since` includes lines stamped
/// exactly then, and a position counts how many lines with its timestamp were sent already.
struct LogPositionFilter {
    let resumePoint: LogPosition?
    /// Without a resume point: lines stamped before this are old.
    let floor: LogTimestamp?
    private var seenAtResumePoint = 0

    init(resumePoint: LogPosition?, floor: LogTimestamp? = nil) {
        self.resumePoint = resumePoint
        self.floor = floor
    }

    /// Removes what is old from `lines` (changing the batch only when something is) and moves `position` past the rest.
    mutating func keepNew(_ lines: inout LogBatch, position: inout LogPosition?) {
        // Most reads have nothing old (the tail's lines, after the catch-up): the batch, shared with every other
        // follower of the tail, is then passed on as it is, not copied.
        var old: [Bool] = []
        for (index, entry) in lines.entries.enumerated() {
            guard let stamp = entry.timestamp, isOld(stamp) else { continue }
            if old.isEmpty { old = Array(repeating: false, count: lines.count) }
            old[index] = true
        }
        if !old.isEmpty {
            var index = 0
            lines.removeAll { _ in
                defer { index += 1 }
                return old[index]
            }
        }
        for entry in lines.entries {
            if let stamp = entry.timestamp { LogPosition.advance(&position, to: stamp) }
        }
    }

    /// Whether the line stamped `stamp` was had already; counts it when it is one of those stamped at the resume point.
    private mutating func isOld(_ stamp: LogTimestamp) -> Bool {
        if let resumePoint {
            if stamp < resumePoint.timestamp { return true }
            if stamp == resumePoint.timestamp && seenAtResumePoint < resumePoint.count {
                seenAtResumePoint += 1
                return true
            }
            return false
        }
        if let floor { return stamp < floor }
        return false
    }
}

extension LogTimestamp {
    init(date: Date) {
        let interval = date.timeIntervalSince1970
        let seconds = interval.rounded(.down)
        self.init(seconds: Int64(seconds), nanoseconds: Int32(((interval - seconds) * 1_000_000_000).rounded(.down)))
    }
}

/// Encodes log stream messages, keeping the cursor that becomes each event's `id:`.
final class LogStreamRenderer: Sendable {
    /// How long a log stream's writer waits for more lines before it writes (``EventStreamer``'s `gather`): a
    /// delay no reader sees, for events of hundreds of lines instead of a few when a log runs fast.
    static let gather = Duration.milliseconds(2)

    private let cursor: NIOLockedValueBox<LogCursor>
    private let remaining: NIOLockedValueBox<Int>

    init(cursor: LogCursor, containers: Int) {
        self.cursor = NIOLockedValueBox(cursor)
        self.remaining = NIOLockedValueBox(containers)
    }

    func render(_ message: LogStreamMessage) -> ServerSentEvent? {
        switch message {
        case .lines(let container, let lines):
            // The position after these lines first: it is the event's `id:`, which comes before its data.
            var position = cursor.withLockedValue { $0.position(of: container) }
            for line in lines.entries {
                if let stamp = line.timestamp { LogPosition.advance(&position, to: stamp) }
            }
            let id = cursor.withLockedValue { cursor -> String? in
                if let position { cursor.set(container, to: position) }
                return cursor.eventID
            }
            // The whole event is built in one buffer, each line's bytes escaped straight from the batch.
            var buffer = ByteBuffer()
            buffer.reserveCapacity(lines.byteCount + lines.count * 96 + 256)
            buffer.writeStaticString("event: logs\n")
            if let id {
                buffer.writeStaticString("id: ")
                buffer.writeString(ServerSentEvent.field(id))
                buffer.writeStaticString("\n")
            }
            buffer.writeStaticString("data: {\"lines\":[")
            var key = LogCursor.key(container)
            key.withUTF8 { key in
                for (index, line) in lines.entries.enumerated() {
                    buffer.writeStaticString(index == 0 ? "{\"c\":" : ",{\"c\":")
                    JSONEscaping.writeString(key, to: &buffer)
                    switch line.stream {
                    case .stderr: buffer.writeStaticString(",\"s\":\"stderr\"")
                    case .tty: buffer.writeStaticString(",\"s\":\"tty\"")
                    default: buffer.writeStaticString(",\"s\":\"stdout\"")
                    }
                    if let stamp = line.timestamp {
                        buffer.writeStaticString(",\"t\":\"")
                        stamp.write(into: &buffer)
                        buffer.writeStaticString("\"")
                    }
                    buffer.writeStaticString(",\"x\":")
                    lines.withBytes(of: line) { JSONEscaping.writeString($0, to: &buffer) }
                    buffer.writeStaticString(line.truncated ? ",\"truncated\":true}" : "}")
                }
            }
            buffer.writeStaticString("]}\n\n")
            return ServerSentEvent(encoded: buffer)
        case .status(let container, let state, let message):
            return ServerSentEvent(event: "status", encoding: ["c": LogCursor.key(container), "state": state, "message": message])
        case .ended(let container, let reason):
            return ServerSentEvent(event: "ended", encoding: ["c": LogCursor.key(container), "reason": reason])
        case .finished:
            return .end("The log streams ended.", final: true)
        }
    }
}

extension LogTimestamp {
    /// ``description``'s bytes (`seconds.nanoseconds`), written digit by digit.
    func write(into buffer: inout ByteBuffer) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { scratch in
            // Seconds right-aligned in the first 20 bytes, then the point and nine digits of nanoseconds.
            var value = seconds.magnitude
            var start = 20
            repeat {
                start -= 1
                scratch[start] = UInt8(48 + value % 10)
                value /= 10
            } while value > 0
            if seconds < 0 {
                start -= 1
                scratch[start] = UInt8(ascii: "-")
            }
            scratch[20] = UInt8(ascii: ".")
            var nanos = Int(nanoseconds)
            for index in stride(from: 29, through: 21, by: -1) {
                scratch[index] = UInt8(48 + nanos % 10)
                nanos /= 10
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[start..<30]))
        }
    }
}
