import HTTPTypes
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Limits on connections, kept in the channel pipeline where a connection is still bytes and a clock.
///
/// - A connection must deliver a whole request head within `headerTimeout` of connecting (slow headers), and the next
///   one within `keepAliveTimeout` of the last response (idle keep-alive sockets); else it is closed.
/// - Past `maxConnections`, a connection's requests are marked (`overCapacityHeader`); the access check lets a valid
///   session through and answers everyone else 503 with `Retry-After`, and the connection closes after that answer. So
///   signed-in people still get in while anonymous sockets pile up, and those sockets leave again.
/// - An event stream's socket holds at most `streamSendBuffer` unsent in the kernel, and closes when its client closes
///   its side.
///
/// One `ConnectionLimits` is shared by every connection; each connection gets a `ConnectionGuard` of its own.
public final class ConnectionLimits: Sendable {
    let maxConnections: Int
    let headerTimeout: TimeAmount
    let keepAliveTimeout: TimeAmount
    /// A wave of 256 connections that has mostly left gives its memory back (each held buffers).
    private let open = NIOLockedValueBox(OpenCount(wave: 256))

    public init(maxConnections: Int, headerTimeout: TimeAmount, keepAliveTimeout: TimeAmount) {
        self.maxConnections = maxConnections
        self.headerTimeout = headerTimeout
        self.keepAliveTimeout = keepAliveTimeout
    }

    /// Connections open now.
    public var openConnections: Int { open.withLockedValue { $0.now } }

    /// Counts a new connection in; true when it is over the cap.
    func admit() -> Bool {
        open.withLockedValue { count in
            count.opened()
            return count.now > maxConnections
        }
    }

    func release() {
        if open.withLockedValue({ $0.closed() }) { ReturnedMemory.trimSoon() }
    }

    /// The guard for a pipeline that speaks Swift HTTP types (HTTP/1.1 streams of HTTP/2, and plain HTTP/1.1).
    func handlers() -> [any RemovableChannelHandler] { [ConnectionGuard<HTTPTypesParts>(limits: self)] }

    /// The guard for a pipeline that may upgrade to a WebSocket: it sits right after NIO's HTTP/1 decoder from the
    /// first byte (Hummingbird adds its own handlers only once the first head decided against an upgrade), and steps
    /// aside, still counting the connection, once a 101 has been written.
    func upgradableHandler() -> any ChannelHandler { ConnectionGuard<NIOHTTP1Parts>(limits: self) }

    /// What the kernel may hold unsent for an event stream (SO_SNDBUF; Linux counts twice this with its overhead).
    /// Its own default grows to 4 MiB a socket: a reader that stops reading then takes ~2.8 MiB of log the engine
    /// decoded and Berth rendered for nothing, and a hundred such readers kept both cores busy for tens of seconds
    /// (bench/hostile). 128 KiB still carries 1 MB/s to a browser 100 ms away, many times a fast log.
    static let streamSendBuffer: Int32 = 128 * 1024

    /// Tells the connection's guard the status a refused WebSocket handshake gets in place of Hummingbird's 400. On
    /// the event loop, before the refusal is returned (so before that answer is written).
    static func refuseUpgrade(_ status: HTTPResponse.Status, on channel: any Channel) async {
        try? await channel.eventLoop.submit {
            let guardHandler = try channel.pipeline.syncOperations.handler(type: ConnectionGuard<NIOHTTP1Parts>.self)
            guardHandler.refusedUpgrade = status.code
        }.get()
    }

    /// Set by the guard on the requests of a connection over the cap; never taken from the client.
    static let overCapacityHeader = HTTPField.Name("X-Berth-Over-Capacity")!
}

/// The request and response parts a guard reads, in the pipeline's own types.
protocol ConnectionGuardParts {
    associatedtype Request
    associatedtype Response
    /// The part with the over-capacity mark set (or cleared), when it is a request head; nil for other parts.
    static func markedHead(_ part: Request, overCapacity: Bool) -> Request?
    /// A response head's status code and content type; nil for other parts.
    static func responseHead(_ part: Response) -> (status: Int, contentType: String?)?
    static func isEnd(_ part: Response) -> Bool
    /// The response head with another status.
    static func withStatus(_ part: Response, _ code: Int) -> Response
    static func body(_ bytes: ByteBuffer) -> Response
    static var end: Response { get }
    /// The head saying the connection closes after this response, where the protocol says so in a header (HTTP/1).
    static func closingConnection(_ part: Response) -> Response
}

enum HTTPTypesParts: ConnectionGuardParts {
    static func markedHead(_ part: HTTPRequestPart, overCapacity: Bool) -> HTTPRequestPart? {
        guard case .head(var head) = part else { return nil }
        head.headerFields[ConnectionLimits.overCapacityHeader] = nil
        if overCapacity { head.headerFields[ConnectionLimits.overCapacityHeader] = "1" }
        return .head(head)
    }

    static func responseHead(_ part: HTTPResponsePart) -> (status: Int, contentType: String?)? {
        guard case .head(let head) = part else { return nil }
        return (head.status.code, head.headerFields[.contentType])
    }

    static func isEnd(_ part: HTTPResponsePart) -> Bool {
        if case .end = part { return true }
        return false
    }

    static func withStatus(_ part: HTTPResponsePart, _ code: Int) -> HTTPResponsePart {
        guard case .head(var head) = part else { return part }
        head.status = .init(code: code)
        return .head(head)
    }

    static func body(_ bytes: ByteBuffer) -> HTTPResponsePart { .body(bytes) }
    static var end: HTTPResponsePart { .end(nil) }
    /// An HTTP/2 stream's end is the stream's; its connection goes on.
    static func closingConnection(_ part: HTTPResponsePart) -> HTTPResponsePart { part }
}

enum NIOHTTP1Parts: ConnectionGuardParts {
    static func markedHead(_ part: HTTPServerRequestPart, overCapacity: Bool) -> HTTPServerRequestPart? {
        guard case .head(var head) = part else { return nil }
        let name = ConnectionLimits.overCapacityHeader.rawName
        head.headers.remove(name: name)
        if overCapacity { head.headers.add(name: name, value: "1") }
        return .head(head)
    }

    static func responseHead(_ part: HTTPServerResponsePart) -> (status: Int, contentType: String?)? {
        guard case .head(let head) = part else { return nil }
        return (Int(head.status.code), head.headers.first(name: "content-type"))
    }

    static func isEnd(_ part: HTTPServerResponsePart) -> Bool {
        if case .end = part { return true }
        return false
    }

    static func withStatus(_ part: HTTPServerResponsePart, _ code: Int) -> HTTPServerResponsePart {
        guard case .head(var head) = part else { return part }
        head.status = HTTPResponseStatus(statusCode: code)
        return .head(head)
    }

    static func body(_ bytes: ByteBuffer) -> HTTPServerResponsePart { .body(.byteBuffer(bytes)) }
    static var end: HTTPServerResponsePart { .end(nil) }

    static func closingConnection(_ part: HTTPServerResponsePart) -> HTTPServerResponsePart {
        guard case .head(var head) = part else { return part }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        return .head(head)
    }
}

/// The connection of a request, to hand its event stream over to: its ``ConnectionGuard``, which then writes the
/// stream on the event loop while Hummingbird's task for the connection ends. Nil where there is none (an in-process
/// test client's request). On the connection's event loop.
func streamConnection(of channel: any Channel) -> (any StreamConnection)? {
    let pipeline = channel.pipeline.syncOperations
    if let guardHandler = try? pipeline.handler(type: ConnectionGuard<NIOHTTP1Parts>.self) { return guardHandler }
    if let guardHandler = try? pipeline.handler(type: ConnectionGuard<HTTPTypesParts>.self) { return guardHandler }
    return nil
}

/// - An event stream's connection can be handed over (``StreamConnection``): the guard then writes the stream's bytes
///   below Hummingbird's handlers, keeps reading so that a client that leaves is seen, and keeps the connection open
///   when Hummingbird's task for it ends (it swallows the close that task asks for on its way out).
final class ConnectionGuard<Parts: ConnectionGuardParts>: ChannelDuplexHandler, RemovableChannelHandler, StreamConnection {
    typealias InboundIn = Parts.Request
    typealias InboundOut = Parts.Request
    typealias OutboundIn = Parts.Response
    typealias OutboundOut = Parts.Response

    private let limits: ConnectionLimits
    private var counted = false
    private var overCapacity = false
    private var deadline: Scheduled<Void>?
    private var closeAfterResponse = false
    /// Switched to a WebSocket: what passes is frames now, and the WebSocket's own pings keep it in check.
    private var upgraded = false
    /// The status of a WebSocket handshake the access check refused, for the 400 Hummingbird answers it with.
    var refusedUpgrade: Int?
    /// An event stream's response is being written.
    private var eventStreaming = false
    /// The client closed its side (an HTTP/1 socket's half-closure; HTTP/2 streams end with a reset instead).
    private var inputClosed = false
    /// The event stream this connection was handed over to.
    private var reader: (any StreamConnectionReader)?
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        overCapacity = limits.admit()
        arm(context, limits.headerTimeout)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        if counted {
            counted = false
            limits.release()
        }
        reader?.run()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        if counted {
            counted = false
            limits.release()
        }
        reader?.abandon()
        reader = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A handed-over stream's client has nothing more to say; what it sends is dropped.
        guard reader == nil else { return }
        guard !upgraded else {
            context.fireChannelRead(data)
            return
        }
        if let head = Parts.markedHead(unwrapInboundIn(data), overCapacity: overCapacity) {
            disarm()
            context.fireChannelRead(wrapInboundOut(head))
        } else {
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if reader != nil {
            // Hummingbird's reader is gone: read on, to see the client leave.
            context.read()
        } else {
            context.fireChannelReadComplete()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { reader?.run() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if reader != nil {
            context.close(promise: nil)
        } else {
            context.fireErrorCaught(error)
        }
    }

    /// Hummingbird closes the connection when its task for it ends; a handed-over stream's connection stays open until
    /// the stream ends (``finish()``) or the client leaves.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if reader != nil {
            promise?.fail(ChannelError.operationUnsupported)
        } else {
            context.close(mode: mode, promise: promise)
        }
    }

    /// A client that closed its side of an event stream has gone (a browser never half-closes and goes on reading): the
    /// connection closes at once, and with it the stream, instead of at its next write, up to a heartbeat later.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !upgraded, event as? ChannelEvent == .some(.inputClosed) {
            inputClosed = true
            if eventStreaming { context.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard reader == nil else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        guard !upgraded else {
            context.write(data, promise: promise)
            return
        }
        var part = unwrapOutboundIn(data)
        if let refused = refusedUpgrade, Parts.responseHead(part)?.status == 400 {
            refusedUpgrade = nil
            part = Parts.withStatus(part, refused)
        }
        if let head = Parts.responseHead(part) {
            if head.status == 101 {
                upgraded = true
                disarm()
            }
            // The refusal of a request over the cap ends its connection.
            if overCapacity, head.status == 503 { closeAfterResponse = true }
            if head.contentType?.hasPrefix("text/event-stream") == true {
                // Only on a socket: an HTTP/2 stream has none of its own (and flow control of its own), and
                // setting a socket option on one traps.
                if let socket = context.channel as? any SocketOptionProvider {
                    _ = socket.unsafeSetSocketOption(level: .socket, name: .so_sndbuf, value: ConnectionLimits.streamSendBuffer)
                }
                // Handed over, the stream ends its connection with it (``finish()``): no client may count on reusing it.
                part = Parts.closingConnection(part)
                eventStreaming = true
            }
            context.write(wrapOutboundOut(part), promise: promise)
            // Gone while the stream was being set up.
            if eventStreaming && inputClosed { context.close(promise: nil) }
        } else if Parts.isEnd(part) {
            eventStreaming = false
            if closeAfterResponse {
                context.writeAndFlush(data).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                promise?.succeed()
            } else {
                context.write(data, promise: promise)
                arm(context, limits.keepAliveTimeout)
            }
        } else {
            context.write(data, promise: promise)
        }
    }

    // MARK: StreamConnection

    /// Takes the event stream over from Hummingbird's task, whose writes and close are refused from now on.
    func handOver(to reader: any StreamConnectionReader) {
        self.reader = reader
        guard let context else { return }
        // An HTTP/1 connection's request decoder has nothing more to decode (what the client sends now is dropped,
        // see `channelRead`): the kilobyte or so it holds goes, for as long as the stream stays open.
        let pipeline = context.pipeline.syncOperations
        if let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
            pipeline.removeHandler(decoder, promise: nil)
        }
        context.read()
    }

    var isActive: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func write(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(Parts.body(bytes)), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func finish() {
        guard let context else { return }
        eventStreaming = false
        context.writeAndFlush(wrapOutboundOut(Parts.end)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.deadline = nil
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Hummingbird's HTTP/1.1 channel with WebSocket upgrades, with a `ConnectionGuard` in its pipeline from the first
/// byte: the channel itself adds extra handlers only after the first request head, too late for the header timeout
/// and the connection cap.
struct GuardedUpgradeChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let limits: ConnectionLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(limits.upgradableHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
