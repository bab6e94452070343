import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A webhook receiver for alert tests: an HTTP server on a loopback port that keeps every request it gets and answers
/// each with the next status of its script (then 200).
public final class WebhookReceiver: Sendable {
    public struct Received: Sendable {
        public let path: String
        public let headers: [String: String]
        public let body: String
        public let at: ContinuousClock.Instant
    }

    public var port: Int { channel.withLockedValue { $0?.localAddress?.port } ?? 0 }
    private let state: NIOLockedValueBox<(received: [Received], script: [Int])>
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    public init(answers script: [Int] = []) {
        state = NIOLockedValueBox(([], script))
    }

    public var url: String { "http://127.0.0.1:\(port)" }
    public var received: [Received] { state.withLockedValue { $0.received } }

    public func start() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] child in
                child.pipeline.configureHTTPServerPipeline().flatMap { child.pipeline.addHandler(Handler(receiver: self)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLockedValue { $0 = server }
    }

    public func stop() async {
        try? await channel.withLockedValue { $0 }?.close()
    }

    /// Waits until `count` requests came; what came.
    public func waitFor(_ count: Int, timeout: Duration = .seconds(20)) async -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while received.count < count, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(25)) }
        return received
    }

    fileprivate func take(_ request: Received) -> Int {
        state.withLockedValue { state in
            state.received.append(request)
            return state.script.isEmpty ? 200 : state.script.removeFirst()
        }
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let receiver: WebhookReceiver
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(receiver: WebhookReceiver) { self.receiver = receiver }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                guard let head else { return }
                var headers: [String: String] = [:]
                for (name, value) in head.headers { headers[name.lowercased()] = value }
                let status = receiver.take(Received(path: head.uri, headers: headers, body: String(buffer: body), at: .now))
                let response = HTTPResponseHead(
                    version: head.version, status: HTTPResponseStatus(statusCode: status), headers: ["Content-Length": "0"]
                )
                context.write(Self.wrapOutboundOut(.head(response)), promise: nil)
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
