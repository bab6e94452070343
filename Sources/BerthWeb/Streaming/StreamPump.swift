import Hummingbird
import NIOCore

/// Turns what a stream's mailbox holds into the bytes of its events, for whoever writes them: the connection's event
/// loop once the stream is handed over (``StreamConnectionWriter``), or the response's task where there is no
/// connection to hand over (Hummingbird's in-process test client).
///
/// One writer takes from a pump at a time, in order, so `render` may keep a cursor; the state below needs no lock.
final class StreamPump<Message: Sendable>: @unchecked Sendable {
    enum Step {
        /// Take again.
        case more
        /// The mailbox is empty: the waker given to ``take(wake:)`` is called when it is not.
        case waiting
        /// Messages came: take again after this long, for more of them in the same write.
        case gather(Duration)
        /// Nothing more: the bytes returned with it were the last.
        case ended
    }

    /// A write this large goes out without waiting for more.
    static var gatheredBytes: Int { 64 * 1024 }

    let mailbox: Mailbox<Message>
    private let render: @Sendable (Message) -> ServerSentEvent?
    private let gather: Duration?
    /// Events rendered but held back while a gather waits.
    private var pending: ByteBuffer?
    private var gathering = false
    private var ended = false

    init(mailbox: Mailbox<Message>, gather: Duration?, render: @escaping @Sendable (Message) -> ServerSentEvent?) {
        self.mailbox = mailbox
        self.gather = gather
        self.render = render
    }

    /// What to write now (nil: nothing), and what to do next.
    func take(wake: @escaping @Sendable () -> Void) -> (ByteBuffer?, Step) {
        if ended { return (nil, .ended) }
        if gathering {
            gathering = false
            if add(mailbox.takeQueued(limit: 64, bytes: Self.gatheredBytes)) { return finish() }
            return (takePending(), .more)
        }
        switch mailbox.poll(orWake: wake) {
        case .waiting:
            return (nil, .waiting)
        case .ended:
            return finish()
        case .item(.gap(let dropped)):
            return (ServerSentEvent(event: "gap", encoding: ["dropped": dropped]).bytes, .more)
        case .item(.heartbeat):
            return (ServerSentEvent.comment("heartbeat"), .more)
        case .item(.element(let message)):
            // What else is queued goes out in the same write: one syscall for a burst of messages.
            if add([message] + mailbox.takeQueued(limit: 63, bytes: Self.gatheredBytes)) { return finish() }
            if let gather, (pending?.readableBytes ?? 0) < Self.gatheredBytes {
                // A fast log's lines arrive a few at a time: a moment's wait lets many go in one event.
                gathering = true
                return (nil, .gather(gather))
            }
            return (takePending(), .more)
        }
    }

    /// Renders messages into the pending bytes; true when one of them ended the stream.
    private func add(_ messages: [Message]) -> Bool {
        for message in messages {
            guard let event = render(message) else { continue }
            if pending == nil {
                // The first event's own buffer: nothing is copied for a lone event.
                pending = event.bytes
            } else {
                pending!.writeImmutableBuffer(event.bytes)
            }
            if event.endsStream { return true }
        }
        return false
    }

    private func takePending() -> ByteBuffer? {
        defer { pending = nil }
        guard let pending, pending.readableBytes > 0 else { return nil }
        return pending
    }

    /// The last bytes: what is pending, and the `end` event that says why the stream ends, if it was ended rather
    /// than finished.
    private func finish() -> (ByteBuffer?, Step) {
        ended = true
        var last = takePending()
        let end: ServerSentEvent? =
            if let reason = mailbox.closeReason {
                .end(reason, final: reason != EventStreamer.shutdownReason)
            } else if mailbox.isOverflowed {
                .end("This page fell too far behind the stream; it reconnects.", final: false)
            } else {
                nil
            }
        if let end {
            if last == nil { last = end.bytes } else { last!.writeImmutableBuffer(end.bytes) }
        }
        return (last, .ended)
    }

    /// Writes the stream from the response's task, waiting on the mailbox, until it ends or a write fails.
    func write(to writer: inout any ResponseBodyWriter) async throws {
        while true {
            let (bytes, step) = await mailbox.wait { wake -> (ByteBuffer?, Step)? in
                let taken = take(wake: wake)
                if case .waiting = taken.1 { return nil }
                return taken
            }
            if let bytes { try await writer.write(bytes) }
            switch step {
            case .ended: return
            case .gather(let delay): try? await Task.sleep(for: delay)
            case .more, .waiting: continue
            }
        }
    }
}

/// A connection an event stream was handed over to (its ``ConnectionGuard``): written on its event loop.
protocol StreamConnection: AnyObject {
    /// From now on the connection is the stream's: `reader` is told when it can write more or closed.
    func handOver(to reader: any StreamConnectionReader)
    var isActive: Bool { get }
    var isWritable: Bool { get }
    func write(_ bytes: ByteBuffer)
    func flush()
    /// Ends the response and closes the connection once that is written.
    func finish()
}

/// What a ``StreamConnection`` calls when it can take more (its writability changed) or closed.
protocol StreamConnectionReader: AnyObject {
    func run()
    /// The connection let go of the stream (its guard left the pipeline): the stream ends without a word.
    func abandon()
}

/// Writes a stream handed over to its connection, on the connection's event loop: woken by the mailbox, the
/// connection's writability and the gather clock, with no task of its own and none of the connection's. A task that
/// waited on the stream kept the slabs of its deepest call chain, Hummingbird's connection loop and the response
/// writer's, for the stream's whole life (bench/README, Watchers).
final class StreamConnectionWriter<Message: Sendable>: StreamConnectionReader {
    private let pump: StreamPump<Message>
    private var connection: (any StreamConnection)?
    private let eventLoop: any EventLoop
    private var gatherTimer: Scheduled<Void>?
    /// Called once, on the event loop, when the stream has ended (written out, or its connection gone).
    private let ended: () -> Void
    private var wake: (@Sendable () -> Void)!

    init(pump: StreamPump<Message>, connection: any StreamConnection, eventLoop: any EventLoop, ended: @escaping () -> Void) {
        self.pump = pump
        self.connection = connection
        self.eventLoop = eventLoop
        self.ended = ended
        let me = Unretained(writer: self)
        wake = { [eventLoop] in eventLoop.execute { me.writer?.run() } }
    }

    /// The writer, for the mailbox's waker, without keeping it (the connection does): touched on the event loop only.
    private struct Unretained: @unchecked Sendable {
        weak var writer: StreamConnectionWriter?
    }

    /// How much one turn writes before it lets the event loop's other connections go first. A socket that takes
    /// everything at once (TLS buffers until a flush, so its channel never turns unwritable) would otherwise keep the
    /// loop for as long as a fast log refills the mailbox.
    static var turnBytes: Int { 256 * 1024 }

    func run() {
        guard let connection else { return }
        guard connection.isActive else {
            end()
            return
        }
        guard gatherTimer == nil else { return }
        var written = 0
        while connection.isWritable {
            if written >= Self.turnBytes {
                connection.flush()
                wake()
                return
            }
            let (bytes, step) = pump.take(wake: wake)
            if let bytes {
                written += bytes.readableBytes
                connection.write(bytes)
            }
            switch step {
            case .more:
                continue
            case .waiting:
                connection.flush()
                return
            case .gather(let delay):
                connection.flush()
                gatherTimer = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(delay / .nanoseconds(1)))) { [weak self] in
                    self?.gatherTimer = nil
                    self?.run()
                }
                return
            case .ended:
                // Ended first: finishing flushes, which may make the connection writable again and call `run`.
                end()
                connection.finish()
                return
            }
        }
        // Taken up again when the connection can take more (``StreamConnectionReader/run()``).
        connection.flush()
    }

    func abandon() {
        end()
    }

    private func end() {
        guard connection != nil else { return }
        connection = nil
        gatherTimer?.cancel()
        gatherTimer = nil
        ended()
    }
}
