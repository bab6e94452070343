import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A WebSocket client that sends exactly the handshake headers it is given, as a browser does: swift-websocket's
/// client adds an `Origin` of its own (`ws://host`), which Berth rightly refuses, so the console tests speak through
/// NIO's upgrader directly.
public struct TestWebSocket: Sendable {
    public enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    public struct Refused: Error, CustomStringConvertible {
        public var description: String { "the WebSocket upgrade was refused" }
    }

    public let channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    /// Connects and upgrades; throws `Refused` when the server answers without upgrading. With `tls`, over TLS
    /// offering only http/1.1 by ALPN, as a browser opens a WebSocket (the certificate is not checked).
    public static func connect(port: Int, path: String, headers: [(String, String)], tls: Bool = false) async throws -> TestWebSocket {
        let context: NIOSSLContext? = try tls ? {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            configuration.applicationProtocols = ["http/1.1"]
            return try NIOSSLContext(configuration: configuration)
        }() : nil
        let negotiated = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: 1 << 24,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                            }
                        }
                    )
                    var fields = HTTPHeaders(headers)
                    fields.add(name: "Host", value: "127.0.0.1:\(port)")
                    fields.add(name: "Content-Length", value: "0")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: fields)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { .refused } }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                }
            }
        switch try await negotiated.get() {
        case .websocket(let channel): return TestWebSocket(channel: channel)
        case .refused: throw Refused()
        }
    }

    /// Runs `body` with a writer of messages while `onMessage` gets every message the server sends; returns when the
    /// server has closed the connection (answering its close) and `body` has returned.
    public func run(
        onMessage: @escaping @Sendable (_ binary: Bool, _ data: ByteBuffer, _ writer: Writer) async throws -> Void,
        onClose: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable (Writer) async throws -> Void
    ) async throws {
        try await channel.executeThenClose { inbound, outbound in
            let writer = Writer(outbound: outbound)
            let reader = Task {
                defer { onClose() }
                for try await frame in inbound {
                    switch frame.opcode {
                    case .binary, .text:
                        try await onMessage(frame.opcode == .binary, frame.unmaskedData, writer)
                    case .ping:
                        try await writer.send(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
                    case .connectionClose:
                        try? await writer.send(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: frame.unmaskedData))
                        return
                    default:
                        continue
                    }
                }
            }
            do {
                try await body(writer)
            } catch {
                reader.cancel()
                throw error
            }
            try await reader.value
        }
    }

    public struct Writer: Sendable {
        let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>

        public func binary(_ text: String) async throws {
            try await send(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: ByteBuffer(string: text)))
        }

        public func text(_ text: String) async throws {
            try await send(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)))
        }

        /// Starts the closing handshake, as a page that goes away does.
        public func close() async throws {
            try await send(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer()))
        }

        public func send(_ frame: WebSocketFrame) async throws {
            try await outbound.write(frame)
        }
    }
}
