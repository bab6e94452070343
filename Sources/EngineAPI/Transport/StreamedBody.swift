import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The body of a streamed engine answer read on a connection of its own: one buffer per socket read, with the HTTP
/// framing already taken off (see ``StreamedResponseDecoder``).
///
/// Back pressure reaches the socket: while the reader is behind by more than a few reads, the connection stops reading
/// and the engine waits. Dropping the body (or its iterator) closes the connection.
struct StreamedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, StreamedBodyDelegate
    >

    let producer: Producer

    func makeAsyncIterator() -> Producer.AsyncIterator { producer.makeAsyncIterator() }

    /// Up to `limit` bytes of the body (for the short error document of a failed request).
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        for try await var piece in self {
            guard collected.readableBytes + piece.readableBytes <= limit else { break }
            collected.writeBuffer(&piece)
        }
        return collected
    }
}

extension EngineTransport {
    /// Sends the request on a new connection and returns the answer's body once its head says it succeeded; an error
    /// status becomes ``EngineError/daemon(status:message:)`` with the daemon's message.
    ///
    /// For long, fast streams (followed logs): the engine flushes every log message as its own HTTP chunk, and this
    /// reads them a socket read at a time instead of a chunk at a time.
    /// `follows`: the stream runs until it is closed (a followed log), rather than ending when the engine has sent what
    /// it has.
    func openStream(_ request: EngineRequest, version: APIVersion?, follows: Bool) async throws -> StreamedBody {
        try await openConnection(request, version: version, follows: follows).body
    }

    /// ``openStream(_:version:follows:)``, handing back the connection as well: after an upgraded answer
    /// (``EngineRequest/upgrade``) what is written to it goes to the process's input.
    func openConnection(
        _ request: EngineRequest, version: APIVersion?, follows: Bool
    ) async throws -> (body: StreamedBody, channel: any Channel) {
        try request.checkPath()
        guard streamSlots.acquire(lasting: follows) else {
            let limit = follows ? streamSlots.lastingLimit : streamSlots.limit
            throw EngineError.busy("Berth follows as many logs at once as it may (\(limit)); this one starts when another closes.")
        }
        // The slot is the connection's: given back when it closes, however that happens.
        var connected = false
        defer { if !connected { streamSlots.release() } }
        let endpoint = try await endpoint()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let handler = StreamedResponseHandler(eventLoop: eventLoop, address: address.description)
        // TLS (an engine on TCP with `--tlsverify`): the name dialled is checked against the certificate (an IP
        // address against its IP names), as the requests' client does.
        let tlsHost: String? = if case .tcp(let host, _) = address, tls != nil { host } else { nil }
        let tlsContext = tls?.context
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let name = tlsHost.flatMap { $0.isIPAddress ? nil : $0 }
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: name))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            switch endpoint {
            case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .tcp(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
            case .ssh: preconditionFailure("an engine over SSH is dialled through its tunnel's socket")
            }
            connected = true
            let slots = streamSlots
            channel.closeFuture.whenComplete { _ in slots.release() }
        } catch {
            let failure = EngineError.unreachable(address: address.description, reason: Self.reason(for: error))
            // Nothing will answer: the head's promise must still be kept.
            handler.failHead(failure)
            throw failure
        }

        var head = ByteBuffer()
        head.writeString("\(request.method.rawValue) \(Self.uri(for: request, version: version)) HTTP/1.1\r\n")
        // The engine is a Go HTTP server, which wants a Host header. The connection serves this one request.
        head.writeString("Host: docker\r\nUser-Agent: Berth\r\n")
        head.writeString(request.upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n")
        // A header that would end the line early is not sent: nothing may add lines to the request.
        for (name, value) in request.headers where !(name + value).utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            head.writeString("\(name): \(value)\r\n")
        }
        if let body = request.body {
            head.writeString("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
            head.writeBytes(body)
        } else {
            head.writeString("\r\n")
        }
        channel.writeAndFlush(head, promise: nil)

        let timeout = eventLoop.scheduleTask(in: request.timeout) {
            handler.failHead(EngineError.unreachable(address: self.address.description, reason: "no answer in time"))
            channel.close(promise: nil)
        }
        let response: StreamedResponseHead
        do {
            response = try await withTaskCancellationHandler {
                try await handler.head.get()
            } onCancel: {
                channel.close(promise: nil)
            }
            timeout.cancel()
        } catch {
            timeout.cancel()
            channel.close(promise: nil)
            if Task.isCancelled { throw CancellationError() }
            // Over SSH, a connection that ended before the head is explained by what failed on the way.
            if let error = error as? EngineError, tunnel?.recentFailure == nil { throw error }
            throw unreachable(error)
        }
        let body = handler.takeBody()
        // An upgraded answer has no framing: everything after its head is the stream (see StreamedResponseDecoder).
        guard (200..<300).contains(response.status) || (request.upgrade && response.status == 101) else {
            // The error document comes with the head; a body that doesn't is cut short.
            let document = try? await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await body.collect(upTo: Self.errorBodyLimit) }
                group.addTask { try await Task.sleep(nanoseconds: 2_000_000_000); return nil }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            channel.close(promise: nil)
            throw Self.daemonError(status: response.status, reason: response.reason, body: document ?? nil)
        }
        return (body, channel)
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 address (which TLS checks against the certificate's IP names, never as SNI).
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}

/// Feeds one connection's bytes through a ``StreamedResponseDecoder`` into the body's producer.
///
/// Every method but ``takeBody()`` runs on the channel's event loop, which is what makes the `@unchecked Sendable`
/// true: the initializer closure and the producer's delegate carry the handler to that loop, and only there is its
/// state touched (``takeBody()`` touches only the reader's end, which nothing on the loop does).
final class StreamedResponseHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Read bursts waiting for the reader, at most (each a few socket reads of up to 64 KiB). Few: a reader that
    /// stopped (a browser that stopped reading a fast log) holds them all, and the engine's socket holds the rest.
    static let bufferedReads = (low: 1, high: 4)
    /// A read burst smaller than this makes the next read wait ``gatherDelay``. The engine writes each log message
    /// on its own, so a reader that keeps up reads one message at a time and pays every per-read cost (a wake-up, a
    /// hand-over to the reading task) per log line; a millisecond lets a fast log gather in the socket.
    static let smallBurst = 16 * 1024
    static let gatherDelay = TimeAmount.milliseconds(1)

    let eventLoop: any EventLoop
    /// The engine's address, for messages.
    let address: String
    private let headPromise: EventLoopPromise<StreamedResponseHead>
    /// The body for the reader, handed over once (the handler must not keep the reader's end alive).
    private var producer: StreamedBody.Producer?
    private var source: StreamedBody.Producer.Source?
    private var decoder = StreamedResponseDecoder()
    private var headDone = false
    /// Body bytes of the reads since the last delivery (a read burst ends with `channelReadComplete`).
    private var pendingBody = ByteBuffer()
    private var context: ChannelHandlerContext?

    private enum Reading {
        case on
        case paused
        /// Paused, and the channel asked for a read that is held back until the reader catches up.
        case pausedWithReadHeld
    }
    private var reading = Reading.on
    /// Bytes the current (or last) read burst brought.
    private var burstBytes = 0
    private var lastBurstBytes = Int.max
    private var delayedRead = false

    init(eventLoop: any EventLoop, address: String) {
        self.eventLoop = eventLoop
        self.address = address
        self.headPromise = eventLoop.makePromise()
        let delegate = StreamedBodyDelegate()
        let made = StreamedBody.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: Self.bufferedReads.low, highWatermark: Self.bufferedReads.high),
            finishOnDeinit: true,
            delegate: delegate
        )
        self.producer = made.sequence
        self.source = made.source
        // The delegate needs the handler, which needs the sequence first.
        delegate.box.handler = self
    }

    /// The body, once (called after the head arrived, before anything else can touch the handler).
    func takeBody() -> StreamedBody {
        defer { producer = nil }
        return StreamedBody(producer: producer!)
    }

    var head: EventLoopFuture<StreamedResponseHead> { headPromise.futureResult }

    func failHead(_ error: any Error) {
        eventLoop.execute { self.fail(error) }
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let input = unwrapInboundIn(data)
        burstBytes += input.readableBytes
        do {
            if let head = try decoder.feed(input, body: &pendingBody) {
                headDone = true
                headPromise.succeed(head)
            }
        } catch {
            fail(EngineError.invalidResponse(error.description))
            context.close(promise: nil)
            return
        }
        if decoder.isComplete {
            deliver()
            finish(nil)
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        lastBurstBytes = burstBytes
        burstBytes = 0
        deliver()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliver()
        do {
            try decoder.finish()
            finish(nil)
        } catch {
            fail(EngineError.unreachable(address: address, reason: error.description))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        switch reading {
        case .on:
            guard headDone, lastBurstBytes < Self.smallBurst else {
                context.read()
                return
            }
            guard !delayedRead else { return }
            delayedRead = true
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.gatherDelay) {
                self.delayedRead = false
                switch self.reading {
                case .on: self.context?.read()
                case .paused: self.reading = .pausedWithReadHeld
                case .pausedWithReadHeld: break
                }
            }
        case .paused: reading = .pausedWithReadHeld
        case .pausedWithReadHeld: break
        }
    }

    private func deliver() {
        guard pendingBody.readableBytes > 0, let source else { return }
        let piece = pendingBody
        pendingBody = ByteBuffer()
        if case .stopProducing = source.yield(piece), reading == .on {
            reading = .paused
        }
    }

    private func finish(_ error: (any Error)?) {
        if !headDone {
            headDone = true
            headPromise.fail(error ?? EngineError.invalidResponse("the answer ended before its head"))
        }
        guard let source else { return }
        self.source = nil
        if let error { source.finish(error) } else { source.finish() }
    }

    private func fail(_ error: any Error) {
        pendingBody.clear()
        finish(error)
    }

    // MARK: - From the reader (through the delegate, on the event loop)

    fileprivate func produceMore() {
        switch reading {
        case .on: break
        case .paused: reading = .on
        case .pausedWithReadHeld:
            reading = .on
            context?.read()
        }
    }

    fileprivate func readerGone() {
        source = nil
        reading = .pausedWithReadHeld
        context?.close(promise: nil)
    }
}

/// Tells the handler, on its event loop, that the reader wants more or has gone.
struct StreamedBodyDelegate: NIOAsyncSequenceProducerDelegate {
    /// Set once, right after the handler is made, before anything can read. Weak: the channel's pipeline keeps the
    /// handler while the connection is open, and after that there is nothing to tell.
    final class HandlerBox: @unchecked Sendable {
        weak var handler: StreamedResponseHandler?
    }
    let box = HandlerBox()

    func produceMore() {
        guard let handler = box.handler else { return }
        handler.eventLoop.execute { handler.produceMore() }
    }

    func didTerminate() {
        guard let handler = box.handler else { return }
        handler.eventLoop.execute { handler.readerGone() }
    }
}
