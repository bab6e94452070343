import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// Limits on connections, kept in the channel pipeline where a connection is still bytes and a clock.
///
/// - A connection must deliver a whole request head within `headerTimeout` of connecting (slow headers), and the next
///   one within `keepAliveTimeout` of the last response (idle keep-alive sockets); else it is closed.
/// - Past `maxConnections`, a connection's requests are marked (`overCapacityHeader`); the access check lets a valid
///   session through and answers everyone else 503 with `Retry-After`, and the connection closes after that answer. So
///   signed-in people still get in while anonymous sockets pile up, and those sockets leave again.
/// - An event stream's socket holds at most `streamSendBuffer` unsent in the kernel.
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

    func handlers() -> [any RemovableChannelHandler] { [ConnectionGuard(limits: self)] }

    /// What the kernel may hold unsent for an event stream (SO_SNDBUF; Linux counts twice this with its overhead).
    /// Its own default grows to 4 MiB a socket: a reader that stops reading then takes ~2.8 MiB of log the engine
    /// decoded and Berth rendered for nothing, and a hundred such readers kept both cores busy for tens of seconds
    /// (bench/hostile). 128 KiB still carries 1 MB/s to a browser 100 ms away, many times a fast log.
    static let streamSendBuffer: Int32 = 128 * 1024

    /// Set by the guard on the requests of a connection over the cap; never taken from the client.
    static let overCapacityHeader = HTTPField.Name("X-Berth-Over-Capacity")!
}

final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private var counted = false
    private var overCapacity = false
    private var deadline: Scheduled<Void>?
    private var closeAfterResponse = false

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
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
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        if counted {
            counted = false
            limits.release()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        if case .head(var head) = part {
            disarm()
            head.headerFields[ConnectionLimits.overCapacityHeader] = nil
            if overCapacity { head.headerFields[ConnectionLimits.overCapacityHeader] = "1" }
            part = .head(head)
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        switch part {
        case .head(let head):
            // The refusal of a request over the cap ends its connection.
            if overCapacity, head.status == .serviceUnavailable { closeAfterResponse = true }
            if head.headerFields[.contentType]?.hasPrefix("text/event-stream") == true {
                // Only on a socket: an HTTP/2 stream has none of its own (and flow control of its own), and
                // setting a socket option on one traps.
                if let socket = context.channel as? any SocketOptionProvider {
                    _ = socket.unsafeSetSocketOption(level: .socket, name: .so_sndbuf, value: ConnectionLimits.streamSendBuffer)
                }
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if closeAfterResponse {
                context.writeAndFlush(data).whenComplete { _ in context.close(promise: nil) }
                promise?.succeed()
            } else {
                context.write(data, promise: promise)
                arm(context, limits.keepAliveTimeout)
            }
        }
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        deadline = context.eventLoop.scheduleTask(in: timeout) { [weak self] in
            self?.deadline = nil
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
