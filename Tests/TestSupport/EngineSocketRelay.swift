import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A byte-for-byte relay in front of the real engine's socket that counts the connections passing through it.
///
/// It answers nothing itself: every byte goes to the real daemon and back. It is how a test counts the engine
/// connections Berth holds open (say, the one shared `/events` stream) and how a test makes the socket vanish
/// for a while without stopping the engine other tests use.
public final class EngineSocketRelay: Sendable {
    public let path: String
    private let upstream: String
    private let state = NIOLockedValueBox(State())
    private let server = NIOLockedValueBox<(any Channel)?>(nil)

    struct State {
        var next = 0
        /// Open connections and the target of the last request each one carried.
        var open: [Int: String] = [:]
        var children: [Int: any Channel] = [:]
        /// The target of every request seen, in order.
        var targets: [String] = []
    }

    /// - Parameter upstream: the real engine's socket path.
    public init(upstream: String) {
        self.upstream = upstream
        path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-relay-\(UUID().uuidString.prefix(8)).sock").path
    }

    public func start() async throws {
        try? FileManager.default.removeItem(atPath: path)
        let upstream = self.upstream
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { [self] child in
                let number = self.opened(child)
                return ClientBootstrap(group: child.eventLoop)
                    .connect(unixDomainSocketPath: upstream)
                    .flatMap { engine in
                        let toEngine = RelayHandler(partner: engine, onRequest: { target in self.saw(target, on: number) })
                        let toClient = RelayHandler(partner: child, onRequest: nil)
                        child.closeFuture.whenComplete { _ in
                            self.closed(number)
                            engine.close(promise: nil)
                        }
                        engine.closeFuture.whenComplete { _ in child.close(promise: nil) }
                        return child.pipeline.addHandler(toEngine).flatMap { engine.pipeline.addHandler(toClient) }
                    }
            }
            .bind(unixDomainSocketPath: path)
            .get()
        server.withLockedValue { $0 = channel }
    }

    /// Closes the listening socket and every connection, and removes the socket file: to Berth, the engine is gone.
    public func stop() async {
        let channel = server.withLockedValue { server in defer { server = nil }; return server }
        try? await channel?.close()
        let children = state.withLockedValue { Array($0.children.values) }
        for child in children { try? await child.close() }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Connections open now.
    public var openConnections: Int { state.withLockedValue { $0.open.count } }

    /// Open connections whose last request was to a path containing `fragment`, such as `/events`.
    public func openConnections(to fragment: String) -> Int {
        state.withLockedValue { $0.open.values.filter { $0.contains(fragment) }.count }
    }

    /// Requests seen so far whose target contains `fragment`, such as `/containers/json`.
    public func requests(to fragment: String) -> Int {
        state.withLockedValue { $0.targets.filter { $0.contains(fragment) }.count }
    }

    private func opened(_ child: any Channel) -> Int {
        state.withLockedValue { state in
            state.next += 1
            state.open[state.next] = ""
            state.children[state.next] = child
            return state.next
        }
    }

    private func saw(_ target: String, on number: Int) {
        state.withLockedValue { state in
            if state.open[number] != nil { state.open[number] = target }
            state.targets.append(target)
        }
    }

    private func closed(_ number: Int) {
        state.withLockedValue { state in
            state.open[number] = nil
            state.children[number] = nil
        }
    }
}

/// Passes what one side reads to the other; reports the target of each request line it sees going to the server (the
/// engine, a registry).
final class RelayHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let partner: any Channel
    let onRequest: (@Sendable (String) -> Void)?

    init(partner: any Channel, onRequest: (@Sendable (String) -> Void)?) {
        self.partner = partner
        self.onRequest = onRequest
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        if let onRequest, let text = buffer.getString(at: buffer.readerIndex, length: min(buffer.readableBytes, 512)) {
            for method in ["GET ", "POST ", "DELETE ", "HEAD ", "PUT "] where text.hasPrefix(method) {
                let target = text.dropFirst(method.count).prefix { $0 != " " }
                onRequest(String(target))
            }
        }
        partner.writeAndFlush(buffer, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
