import NIOConcurrencyHelpers
import NIOCore

/// The bounded queue between what produces a stream's messages and the one connection that writes them.
///
/// Memory stays bounded whatever the reader does. A shared producer ``offer(_:)``s and never waits: when the queue is
/// full the message is dropped and counted, the reader later gets a ``Item/gap(_:)`` with the count, and a reader that
/// stays behind for more than a whole queue's worth of messages is given up (``isOverflowed``). A producer of its own
/// ``send(_:)``s and waits for room instead, which slows its engine stream down rather than losing lines. Room is
/// counted in messages and, when the mailbox is given a `weight`, in bytes too: a log's messages can be large, and a
/// reader that stopped reading must cost a bounded amount (``byteLimit``, plus the one message over it).
final class Mailbox<Element: Sendable>: Sendable {
    enum Item: Sendable {
        case element(Element)
        /// This many messages were dropped here because the reader fell behind.
        case gap(Int)
        /// Time for a keep-alive comment (and a look at the session).
        case heartbeat
    }

    private struct State {
        // Most streams are idle most of the time, and their reader takes each message as soon as it is woken: the queue
        // starts at one slot and grows only for a burst.
        var queue = CircularBuffer<Element>(initialCapacity: 1)
        /// The weight of what is queued.
        var bytes = 0
        /// The most it held at once.
        var peakBytes = 0
        var dropped = 0
        var droppedInARow = 0
        var heartbeatDue = false
        var finished = false
        var overflowed = false
        var closeReason: String?
        /// What wakes the reader, once there is something to take (``poll(orWake:)``).
        var waker: (@Sendable () -> Void)?
        var writers: [CheckedContinuation<Bool, Never>] = []

        /// The reader's waker, taken: each poll that found nothing is woken once.
        mutating func takeWaker() -> (@Sendable () -> Void)? {
            defer { waker = nil }
            return waker
        }
    }

    /// What `send` found under the lock. Without a payload: an enum carrying the reader's continuation cost a generic
    /// metadata look-up on every send, which a fast log pays per engine read.
    private enum SendOutcome {
        case refused, accepted, wait
    }

    private enum NextStep {
        case now(Item?)
        case wait
    }

    /// What ``poll(orWake:)`` found.
    enum Poll {
        case item(Item)
        /// Nothing now: the waker is called once there is.
        case waiting
        /// Finished and drained, or closed.
        case ended
    }

    let capacity: Int
    let byteLimit: Int
    private let weight: (@Sendable (Element) -> Int)?
    private let state = NIOLockedValueBox(State())

    init(capacity: Int, byteLimit: Int = .max, weight: (@Sendable (Element) -> Int)? = nil) {
        self.capacity = capacity
        self.byteLimit = byteLimit
        self.weight = weight
    }

    private func weigh(_ element: Element) -> Int { weight?(element) ?? 0 }

    private func hasRoom(_ state: State) -> Bool { state.queue.count < capacity && state.bytes < byteLimit }

    /// Adds a message without waiting; false when it was dropped (the queue is full, or the mailbox is finished).
    @discardableResult
    func offer(_ element: Element) -> Bool {
        var waker: (@Sendable () -> Void)?
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.finished else { return false }
            guard hasRoom(state) else {
                state.dropped += 1
                state.droppedInARow += 1
                if state.droppedInARow > capacity {
                    state.overflowed = true
                    state.finished = true
                    waker = state.takeWaker()
                }
                return false
            }
            state.queue.append(element)
            state.bytes += weigh(element)
            state.peakBytes = max(state.peakBytes, state.bytes)
            waker = state.takeWaker()
            return true
        }
        waker?()
        return accepted
    }

    /// Adds a message, waiting while the queue is full. False when the mailbox finished or the task was cancelled.
    ///
    /// `merge` may fold the message into the last one queued (which the reader has not taken yet) and say so; then it
    /// takes no room. A producer faster than its reader so sends few large messages instead of many small ones.
    func send(_ element: Element, merge: ((inout Element, Element) -> Bool)? = nil) async -> Bool {
        while true {
            if Task.isCancelled { return false }
            var waker: (@Sendable () -> Void)?
            let outcome = state.withLockedValue { state -> SendOutcome in
                guard !state.finished else { return .refused }
                if let merge, var last = state.queue.popLast() {
                    // Taken out of the queue while merging, so that it is changed in place rather than copied.
                    state.bytes -= weigh(last)
                    let merged = merge(&last, element)
                    state.bytes += weigh(last)
                    state.peakBytes = max(state.peakBytes, state.bytes)
                    state.queue.append(last)
                    if merged {
                        waker = state.takeWaker()
                        return .accepted
                    }
                }
                if hasRoom(state) {
                    state.queue.append(element)
                    state.bytes += weigh(element)
                    state.peakBytes = max(state.peakBytes, state.bytes)
                    waker = state.takeWaker()
                    return .accepted
                }
                return .wait
            }
            switch outcome {
            case .refused:
                return false
            case .accepted:
                waker?()
                return true
            case .wait:
                if !(await wakeUp(when: hasRoom)) { return false }
            }
        }
    }

    /// No room for another message now (its reader fell behind or stopped): a producer that holds something it can let
    /// go of and take up again later (a catch-up's engine connection) does so, and waits with ``waitUntilQueued(atMost:)``.
    var isFull: Bool { state.withLockedValue { !hasRoom($0) } }

    /// The weight queued now.
    var queuedBytes: Int { state.withLockedValue { $0.bytes } }

    /// Waits until at most `bytes` of weight (and half the messages it may hold) are queued: well below where the
    /// producer stopped, so that one that let go of its source gets a good run before it stops again. False when the
    /// mailbox finished or the task was cancelled.
    func waitUntilQueued(atMost bytes: Int) async -> Bool {
        let capacity = self.capacity
        func drained(_ state: State) -> Bool { state.queue.count <= capacity / 2 && state.bytes <= bytes }
        while true {
            if Task.isCancelled { return false }
            let goOn = await wakeUp(when: drained)
            let (finished, ready) = state.withLockedValue { ($0.finished, drained($0)) }
            if !goOn || finished || Task.isCancelled { return false }
            if ready { return true }
        }
    }

    /// The next item; nil once the mailbox is finished and drained, or at once when it was closed (or the task
    /// cancelled, which closes it).
    func next() async -> Item? {
        await wait { wake -> Item?? in
            switch poll(orWake: wake) {
            case .item(let item): item
            case .ended: .some(nil)
            case .waiting: nil
            }
        }
    }

    /// A reader with a task of its own waits so: `attempt` polls with the waker it is given (``poll(orWake:)``) and
    /// returns nil when it found nothing; it is called again each time that waker is called, until it finds
    /// something. Cancelling the task closes the mailbox, which wakes it.
    func wait<Found>(for attempt: (_ wake: @escaping @Sendable () -> Void) -> Found?) async -> Found {
        while true {
            var found: Found?
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    found = attempt { continuation.resume() }
                    if found != nil { continuation.resume() }
                }
            } onCancel: {
                close(reason: "cancelled")
            }
            if let found { return found }
        }
    }

    /// The next item if there is one now; else `wake` is kept and called (once, from whichever thread adds something)
    /// when there is: a reader without a task of its own (``StreamConnectionWriter``) is woken so, and one with a task
    /// resumes (``wait(for:)``).
    func poll(orWake wake: @escaping @Sendable () -> Void) -> Poll {
        let (step, writers) = state.withLockedValue { state -> (NextStep, [CheckedContinuation<Bool, Never>]) in
            let (step, writers) = take(&state)
            if case .wait = step { state.waker = wake }
            return (step, writers)
        }
        for writer in writers { writer.resume(returning: true) }
        switch step {
        case .now(let item?): return .item(item)
        case .now(nil): return .ended
        case .wait: return .waiting
        }
    }

    /// What a reader takes now, under the lock: the gap first, then a message, then a heartbeat; `.wait` when there is
    /// nothing. The writers that waited for room are returned to be woken once the message is taken.
    private func take(_ state: inout State) -> (NextStep, [CheckedContinuation<Bool, Never>]) {
        if state.closeReason != nil { return (.now(nil), []) }
        if state.dropped > 0 {
            defer { state.dropped = 0 }
            return (.now(.gap(state.dropped)), [])
        }
        if let element = state.queue.popFirst() {
            state.bytes -= weigh(element)
            state.droppedInARow = 0
            let writers = state.writers
            state.writers.removeAll()
            return (.now(.element(element)), writers)
        }
        if state.heartbeatDue {
            state.heartbeatDue = false
            return (.now(.heartbeat), [])
        }
        if state.finished { return (.now(nil), []) }
        return (.wait, [])
    }

    /// Up to `limit` more messages (and about `bytes` of weight) that are queued now, without waiting: lets the writer
    /// put several into one write.
    func takeQueued(limit: Int, bytes: Int = .max) -> [Element] {
        let (taken, writers) = state.withLockedValue { state -> ([Element], [CheckedContinuation<Bool, Never>]) in
            guard state.closeReason == nil, state.dropped == 0, !state.queue.isEmpty else { return ([], []) }
            var taken: [Element] = []
            var takenBytes = 0
            while taken.count < limit, takenBytes < bytes, let element = state.queue.popFirst() {
                let size = weigh(element)
                state.bytes -= size
                takenBytes += size
                taken.append(element)
            }
            state.droppedInARow = 0
            defer { state.writers.removeAll() }
            return (taken, state.writers)
        }
        for writer in writers { writer.resume(returning: true) }
        return taken
    }

    /// Asks the reader for a heartbeat.
    func tick() {
        let waker = state.withLockedValue { state -> (@Sendable () -> Void)? in
            guard !state.finished else { return nil }
            state.heartbeatDue = true
            return state.takeWaker()
        }
        waker?()
    }

    /// No more messages: the reader gets what is queued, then nil.
    func finish() {
        let (writers, waker) = state.withLockedValue { state in
            state.finished = true
            defer { state.writers.removeAll() }
            return (state.writers, state.takeWaker())
        }
        waker?()
        for writer in writers { writer.resume(returning: false) }
    }

    /// Ends at once, dropping what is queued (the session ended, the stream is going away).
    func close(reason: String) {
        let (writers, waker) = state.withLockedValue { state in
            state.finished = true
            if state.closeReason == nil { state.closeReason = reason }
            state.queue.removeAll()
            state.bytes = 0
            defer { state.writers.removeAll() }
            return (state.writers, state.takeWaker())
        }
        waker?()
        for writer in writers { writer.resume(returning: false) }
    }

    var isFinished: Bool { state.withLockedValue { $0.finished } }
    /// The most weight it held queued at once.
    var peakBytes: Int { state.withLockedValue { $0.peakBytes } }
    /// The reader stayed behind for more than a whole queue of messages and was given up.
    var isOverflowed: Bool { state.withLockedValue { $0.overflowed } }
    /// Why ``close(reason:)`` was called, if it was.
    var closeReason: String? { state.withLockedValue { $0.closeReason } }

    /// Waits among the writers until the reader takes something (or the mailbox finishes, or the task is cancelled),
    /// unless `condition` (or one of those) holds already. False when the mailbox was finished or closed while it waited.
    private func wakeUp(when condition: (State) -> Bool) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if state.finished || condition(state) || Task.isCancelled { return true }
                    state.writers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume(returning: true) }
            }
        } onCancel: {
            wakeWriters()
        }
    }

    private func wakeWriters() {
        let writers = state.withLockedValue { state in
            defer { state.writers.removeAll() }
            return state.writers
        }
        for writer in writers { writer.resume(returning: true) }
    }
}
