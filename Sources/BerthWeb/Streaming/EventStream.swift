import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// Turns a mailbox of messages into a `text/event-stream` response: writes each message as it comes, a heartbeat
/// comment when the stream is quiet, and ends when the producer finishes, the browser goes away, or the session ends.
///
/// Once the head, the retry hint and any replay are written, the stream is handed over to its connection
/// (``StreamConnectionWriter``): the connection's event loop writes it as the mailbox fills, and Hummingbird's task for
/// the connection ends, so that an open stream costs no task. The producer, if any, runs in a task of its own, cancelled
/// with the engine stream it reads when the browser disconnects (its connection closes, see ``ConnectionGuard``). When
/// the server shuts down gracefully (SIGTERM) every stream ends with an `end` event that lets the page reconnect, so
/// that shutdown does not wait for browsers to leave.
struct EventStreamer: Sendable {
    let sessions: SessionManager
    /// Each heartbeat asks again whether the user still has a role on the stream's engines.
    let roles: EngineRoles
    /// The open streams, and the clock of their heartbeats (how often a quiet stream gets a keep-alive comment and
    /// its owner a look).
    let registry: StreamRegistry
    /// How many streams may be open at once, in all and per session or share link.
    var limits = StreamLimits()

    /// What a stream whose messages have a weight (log lines) may hold queued for a reader that stopped reading: then
    /// its producer waits (and with it the engine stream), so a stalled page costs this much, not the log's size.
    static let queuedBytesLimit = 512 * 1024
    /// A stream that once held this much queued read more behind it (a log's catch-up queues up to 64 KiB ahead, and
    /// the engine's reads and the socket's buffers hold more): its end trims the allocator.
    static let trimAfterQueuedBytes = 32 * 1024

    static let headers: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8",
        .cacheControl: "no-cache",
        HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    /// The `end` reason of streams closed by a graceful shutdown; the page reconnects (to the restarted server).
    static let shutdownReason = "Berth is restarting; the page reconnects."

    /// - Parameters:
    ///   - render: encodes one message, or nil to skip it; it runs in one writer at a time, in order, so it may keep a
    ///     cursor. An event marked ``ServerSentEvent/endsStream`` is the last one.
    ///   - attach: called before anything else, with the mailbox (to subscribe it to a shared topic); returns what
    ///     detaches it when the stream ends.
    ///   - prelude: events written before the mailbox is read (a replay), while the mailbox already collects.
    ///   - produce: fills the mailbox; the stream ends after it returns and the mailbox is drained. Without it the
    ///     stream runs until the browser leaves or the session ends.
    ///   - gather: for a stream whose messages come fast and small (a log): after a message arrives, how long the
    ///     writer waits for more before writing, unless what it has is already large. Fewer, larger writes and
    ///     events, for at most this much delay.
    func response<Message: Sendable>(
        for context: SignedInContext,
        engines: [EngineHandle]? = nil,
        capacity: Int = 256,
        weight: (@Sendable (Message) -> Int)? = nil,
        gather: Duration? = nil,
        render: @escaping @Sendable (Message) -> ServerSentEvent?,
        attach: (@Sendable (Mailbox<Message>) -> @Sendable () -> Void)? = nil,
        prelude: (@Sendable () async -> [ServerSentEvent])? = nil,
        produce: (@Sendable (Mailbox<Message>) async -> Void)? = nil
    ) -> Response {
        let owner = owner(of: context, engines: engines)
        return response(
            for: owner, on: context.base.channel, capacity: capacity, weight: weight, gather: gather, render: render, attach: attach, prelude: prelude, produce: produce
        )
    }

    /// Who a signed-in stream belongs to, and what each heartbeat checks: the session, and the user's role on the
    /// engines it watches — the route's engine, or `engines` (`/events/all`, a job's engine) — as the session's
    /// current role and the system's groups give it now. A role taken away or lowered ends the stream within a
    /// heartbeat and the roles' cache lifetime; a group database that does not answer ends nothing.
    func owner(of context: SignedInContext, engines: [EngineHandle]? = nil) -> StreamOwner {
        let sessions = self.sessions
        let roles = self.roles
        let key = context.user.sessionKey
        let watched = (engines ?? context.base.scopedEngine.map { [$0] } ?? []).map { engine in
            (engine: engine, opened: roles.role(of: context.user, on: engine))
        }
        return StreamOwner(key: key) {
            let resolution = await sessions.resolveForHeartbeat(key: key)
            if let reason = SessionManager.endedReason(resolution) { return reason }
            guard case .valid(let user) = resolution else { return nil }
            for (engine, opened) in watched {
                switch roles.standing(of: user, on: engine) {
                case .unknown:
                    continue
                case .none:
                    return "You no longer have a role on the engine \(engine.name); this view ends."
                case .role(let now):
                    if let opened, now < opened { return "Your role on the engine \(engine.name) changed; reload the page." }
                }
            }
            return nil
        }
    }

    /// The refusal a new stream of `owner` gets now (past a cap), or nil. `response` asks it too; a handler that
    /// does work before (inspects, audit rows) asks first, so that a refused stream costs nothing.
    func refusal(for owner: StreamOwner) -> Response? {
        limits.refusal(open: registry.openStreams, ofOwner: registry.openStreams(key: owner.key), isLink: owner.isLink)
    }

    /// The same, for a stream whose owner is not a signed-in session (a dashboard's share link). `channel` is the
    /// request's connection (or HTTP/2 stream): the stream ends when it closes.
    func response<Message: Sendable>(
        for owner: StreamOwner,
        on channel: any Channel,
        capacity: Int = 256,
        weight: (@Sendable (Message) -> Int)? = nil,
        gather: Duration? = nil,
        render: @escaping @Sendable (Message) -> ServerSentEvent?,
        attach: (@Sendable (Mailbox<Message>) -> @Sendable () -> Void)? = nil,
        prelude: (@Sendable () async -> [ServerSentEvent])? = nil,
        produce: (@Sendable (Mailbox<Message>) async -> Void)? = nil
    ) -> Response {
        let registry = self.registry
        // Each stream may hold engine connections (a log stream one per container): a cap per owner and in all keeps
        // the engine's descriptors bounded however many pages connect.
        if let refusal = refusal(for: owner) { return refusal }
        return Response(status: .ok, headers: Self.headers, body: ResponseBody { writer in
            let mailbox = Mailbox<Message>(capacity: capacity, byteLimit: Self.queuedBytesLimit, weight: weight)
            // The registry's ticker asks the owner, in its own task, whether the stream may go on, and asks the writer
            // for a keep-alive comment if so.
            let registration = registry.register(sessionKey: owner.key, endsOnShutdown: true, beat: {
                // Closed already (signed out), going away: nothing to ask.
                guard !mailbox.isFinished else { return }
                if let ended = await owner.endedReason() {
                    mailbox.close(reason: ended)
                } else {
                    mailbox.tick()
                }
            }, close: { reason in mailbox.close(reason: reason) })
            // The browser went away: nothing more is written, and what feeds the stream is released now.
            channel.closeFuture.whenComplete { [weak mailbox] _ in mailbox?.close(reason: "The page went away.") }
            let detach = attach?(mailbox)
            // A task of its own: it outlives the response's task once the stream is handed over to its connection.
            let producer = produce.map { produce in
                Task {
                    await produce(mailbox)
                    mailbox.finish()
                }
            }
            let release: @Sendable () -> Void = {
                // The browser went away or the stream ended: the producer and its engine stream go with it.
                producer?.cancel()
                detach?()
                registry.unregister(registration)
                // A stream that held much (a reader that fell behind a fast log) gives it back to the system.
                if mailbox.peakBytes >= Self.trimAfterQueuedBytes { ReturnedMemory.trimSoon() }
            }
            let pump = StreamPump(mailbox: mailbox, gather: gather, render: render)
            // The server's graceful shutdown (the handler runs at once if it has begun already) closes the mailbox:
            // the writer drains it, writes the `end` event and the response finishes. Once handed over, the
            // registry's shutdown watch does it.
            let handedOver = await withGracefulShutdownHandler {
                do {
                    // The retry hint, and bytes at once so that proxies pass the head on.
                    try await writer.write(ByteBuffer(string: "retry: 3000\n: stream open\n\n"))
                    if let prelude {
                        // A replay, while the mailbox already collects what comes meanwhile.
                        for event in await prelude() {
                            try await writer.write(event.bytes)
                        }
                    }
                    if await Self.handOver(pump, on: channel, registry: registry, release: release) { return true }
                    try await pump.write(to: &writer)
                } catch {
                    // The browser went away.
                }
                return false
            } onGracefulShutdown: {
                mailbox.close(reason: Self.shutdownReason)
            }
            // Hummingbird's task for the connection ends here, and the connection stays open with the stream.
            if handedOver { throw StreamHandedOver() }
            release()
            try? await writer.finish(nil)
        })
    }

    /// Hands the stream over to its connection, which then writes it on its event loop with no task waiting on it
    /// (``StreamConnectionWriter``); false where there is no connection to hand it to.
    private static func handOver<Message: Sendable>(
        _ pump: StreamPump<Message>, on channel: any Channel, registry: StreamRegistry, release: @escaping @Sendable () -> Void
    ) async -> Bool {
        let eventLoop = channel.eventLoop
        let handedOver = (try? await eventLoop.submit {
            guard let connection = streamConnection(of: channel) else { return false }
            let writer = StreamConnectionWriter(pump: pump, connection: connection, eventLoop: eventLoop, ended: release)
            connection.handOver(to: writer)
            writer.run()
            return true
        }.get()) ?? false
        if handedOver { registry.watchShutdown() }
        return handedOver
    }
}

/// Thrown by an event stream's response once its connection took the stream over: it ends Hummingbird's task for the
/// connection without ending the response (the connection's guard keeps it open).
struct StreamHandedOver: Error {}

/// Who a stream belongs to: the key its registration is filed under (closed all at once by ``StreamRegistry``), and
/// what each heartbeat asks to learn whether the stream may go on.
struct StreamOwner: Sendable {
    let key: String
    /// A share link (its own, lower cap) rather than a signed-in session.
    var isLink = false
    /// Why the stream must end now, or nil while it may go on.
    let endedReason: @Sendable () async -> String?
}

/// How many event streams may be open at once (`--max-streams`, `--max-streams-per-session`, `--max-streams-per-link`).
public struct StreamLimits: Sendable, Equatable {
    public var total: Int
    public var perSession: Int
    public var perLink: Int

    public init(total: Int = 1000, perSession: Int = 24, perLink: Int = 4) {
        self.total = total
        self.perSession = perSession
        self.perLink = perLink
    }

    /// The answer to a stream past a cap: 429 when its owner has too many (a page left open in many tabs), 503 when
    /// the server has; both with `Retry-After`. Nil when it may open.
    func refusal(open: Int, ofOwner: Int, isLink: Bool) -> Response? {
        let ownerLimit = isLink ? perLink : perSession
        let (status, message): (HTTPResponse.Status, String)
        if ofOwner >= ownerLimit {
            status = .tooManyRequests
            message = isLink
                ? "This link has \(ownerLimit) live views open already; close one, or ask for a link of your own."
                : "You have \(ownerLimit) live views open already; close some tabs and this one reconnects."
        } else if open >= total {
            status = .serviceUnavailable
            message = "Berth has as many live views open as it takes now; this one reconnects shortly."
        } else {
            return nil
        }
        return Response(
            status: status, headers: [.retryAfter: "10", .contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: message + "\n"))
        )
    }
}

extension ServerSentEvent {
    /// The last event of a stream; `final` tells the page not to reconnect.
    static func end(_ reason: String, final: Bool) -> ServerSentEvent {
        var event = ServerSentEvent(event: "end", encoding: EndNotice(reason: reason, final: final))
        event.endsStream = true
        return event
    }
}

/// The last event of a stream that ends; `final` tells the page not to reconnect.
struct EndNotice: Encodable, Sendable {
    let reason: String
    let final: Bool
}

/// The streams open per session, so that signing out closes them at once; and the one clock that gives every open
/// stream its heartbeat.
///
/// A heartbeat task per stream cost a task (and its allocator's slabs) per watcher, and each stream asked its owner
/// (a database read) in its own task, which then kept the slabs of that deep call for the connection's life. One
/// ticker asks every owner in turn, in its own few tasks, and a stream has no task of its own
/// (``StreamConnectionWriter``). The streams are split in phases, one phase asked every `heartbeat / phases`, so that
/// ten thousand watchers are not all written to (and their owners all read) in the same moment.
final class StreamRegistry: Sendable {
    struct Registration: Sendable, Hashable {
        let sessionKey: String
        let number: Int
    }

    /// What a registered stream is asked to do.
    private struct Entry: Sendable {
        let close: @Sendable (String) -> Void
        /// Called once a heartbeat; nil for what keeps its own watch (a console).
        let beat: (@Sendable () async -> Void)?
        /// Its last beat has not returned yet (its owner's check is slow): it is not beaten again meanwhile.
        var beating = false
        /// An event stream: the server's graceful shutdown ends it (``watchShutdown()``).
        let endsOnShutdown: Bool
    }

    /// How many phases a heartbeat is split in.
    static let phases = 16
    /// How many owners of one phase are asked at once. Each phase's beats run in a task the ticker does not wait
    /// for, and a stream whose last beat has not returned is skipped: a check that does not answer (an account
    /// database that hangs) holds back its own streams' heartbeats, not the clock.
    static let concurrentBeats = 8

    private struct State {
        var next = 0
        /// Each stream by its number, in the phase `number % phases`.
        var phases = [[Int: Entry]](repeating: [:], count: StreamRegistry.phases)
        /// The numbers of each key's (session's, share link's) open streams.
        var keys: [String: Set<Int>] = [:]
        /// Streams with a beat, and whether the ticker runs for them.
        var beating = 0
        var ticking = false
        /// A wave of 16 streams (a flood of short ones each under the byte threshold) gives its memory back, and so
        /// does each 256 opened.
        var open = OpenCount(wave: 16, openingWave: 256)
        var watchingShutdown = false
    }

    private let state = NIOLockedValueBox(State())
    /// What else gives memory back when a wave of streams has gone, before the allocator is trimmed.
    private let releasing: @Sendable () -> Void
    /// How often each stream gets its beat.
    let heartbeat: Duration

    init(heartbeat: Duration = .seconds(15), releasing: @escaping @Sendable () -> Void = {}) {
        self.heartbeat = heartbeat
        self.releasing = releasing
    }

    /// Files a stream under its key. `beat`, if given, is called about once a heartbeat while the stream is open.
    /// An event stream (`endsOnShutdown`) is closed with ``EventStreamer/shutdownReason`` when the server shuts down.
    func register(
        sessionKey: String, endsOnShutdown: Bool = false, beat: (@Sendable () async -> Void)? = nil,
        close: @escaping @Sendable (String) -> Void
    ) -> Registration {
        let (registration, startTicker, waveOpened) = state.withLockedValue { state in
            state.next += 1
            let number = state.next
            let waveOpened = state.open.opened()
            state.phases[number % Self.phases][number] = Entry(close: close, beat: beat, endsOnShutdown: endsOnShutdown)
            state.keys[sessionKey, default: []].insert(number)
            if beat != nil { state.beating += 1 }
            let start = beat != nil && !state.ticking
            if start { state.ticking = true }
            return (Registration(sessionKey: sessionKey, number: number), start, waveOpened)
        }
        // A wall of screens opening, a crowd's pages reconnecting: what opening them freed goes back to the system
        // (a third of what each open stream cost, in the allocator's pages, before).
        if waveOpened { ReturnedMemory.trimSoon() }
        if startTicker {
            // Detached: the clock belongs to no request (nor to its task-local logger and priority).
            Task.detached { await self.tick() }
        }
        return registration
    }

    func unregister(_ registration: Registration) {
        let waveEnded = state.withLockedValue { state in
            if state.phases[registration.number % Self.phases].removeValue(forKey: registration.number)?.beat != nil {
                state.beating -= 1
            }
            state.keys[registration.sessionKey]?.remove(registration.number)
            if state.keys[registration.sessionKey]?.isEmpty == true { state.keys[registration.sessionKey] = nil }
            return state.open.closed()
        }
        if waveEnded {
            releasing()
            ReturnedMemory.trimSoon()
        }
    }

    /// Ends every stream of the session, telling the pages why.
    func closeAll(sessionKey: String, reason: String) {
        let closers = state.withLockedValue { state in
            (state.keys.removeValue(forKey: sessionKey) ?? []).compactMap { state.phases[$0 % Self.phases][$0]?.close }
        }
        for close in closers { close(reason) }
    }

    /// Ends every event stream when the server's graceful shutdown begins, with a reason that lets the pages reconnect.
    /// Called from a connection's task, whose graceful shutdown the watching task inherits: an event stream handed over
    /// to its connection (``StreamConnectionWriter``) has no task of its own that would hear it, and an HTTP/2
    /// connection's task waits for its streams. (An HTTP/1 connection has no task left: ``StreamDrain`` waits for them.)
    func watchShutdown() {
        let start = state.withLockedValue { state in
            defer { state.watchingShutdown = true }
            return !state.watchingShutdown
        }
        guard start else { return }
        Task {
            // Cancelled: the server is going away all the same.
            try? await gracefulShutdown()
            closeEventStreams()
        }
    }

    /// Ends every open event stream, telling its page that Berth restarts.
    func closeEventStreams() {
        let closers = state.withLockedValue { state in
            state.phases.flatMap { $0.values.filter(\.endsOnShutdown).map(\.close) }
        }
        for close in closers { close(EventStreamer.shutdownReason) }
    }

    /// Event streams open now. Counted when asked: only a shutdown's drain asks.
    var openEventStreams: Int {
        state.withLockedValue { state in state.phases.reduce(0) { $0 + $1.values.count(where: \.endsOnShutdown) } }
    }

    /// Streams open now, over all sessions.
    var openStreams: Int { state.withLockedValue { $0.open.now } }

    /// Streams open now under one key (a session, a share link).
    func openStreams(key: String) -> Int { state.withLockedValue { $0.keys[key]?.count ?? 0 } }

    /// Beats one phase after another while streams are open; ends when none is (and the next stream starts it again).
    /// The phases keep to the clock (`heartbeat / phases` apart from the start), however long their beats take.
    private func tick() async {
        let clock = ContinuousClock()
        let interval = heartbeat / Self.phases
        var due = clock.now
        var phase = 0
        while true {
            due += interval
            try? await Task.sleep(until: due, clock: clock)
            phase = (phase + 1) % Self.phases
            let numbers: [Int]? = state.withLockedValue { state in
                if state.beating == 0 {
                    state.ticking = false
                    return nil
                }
                let numbers = state.phases[phase].filter { $0.value.beat != nil && !$0.value.beating }.map(\.key)
                for number in numbers { state.phases[phase][number]?.beating = true }
                return numbers
            }
            guard let numbers else { return }
            if !numbers.isEmpty {
                Task.detached { await self.beat(numbers) }
            }
        }
    }

    /// Beats the streams of one phase, a few at a time; a stream gone since the phase was read is skipped.
    private func beat(_ numbers: [Int]) async {
        await withTaskGroup(of: Void.self) { group in
            var waiting = numbers.makeIterator()
            func next() -> Bool {
                guard let number = waiting.next() else { return false }
                group.addTask {
                    let beat = self.state.withLockedValue { $0.phases[number % Self.phases][number]?.beat }
                    await beat?()
                    self.state.withLockedValue { $0.phases[number % Self.phases][number]?.beating = false }
                }
                return true
            }
            for _ in 0..<Self.concurrentBeats {
                if !next() { break }
            }
            while await group.next() != nil { _ = next() }
        }
    }
}

/// Holds the application's shutdown until every event stream has written its `end` event and closed, for at most
/// `deadline`. Hummingbird's server stops when its connections' tasks have ended, and a stream handed over to its
/// HTTP/1 connection has none; without this the engine client (``ShutdownService``) and then the process would go
/// while the streams' last bytes were on their way. Listed last among the services, so it is the first to stop after
/// the server.
struct StreamDrain: Service {
    let registry: StreamRegistry
    var deadline: Duration = .seconds(10)

    func run() async throws {
        // Returns when shutdown begins; a cancelled wait means the same.
        try? await gracefulShutdown()
        registry.closeEventStreams()
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while registry.openEventStreams > 0, clock.now < end {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
