import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Berth's own HTTPS: HTTP/2 for the pages (one connection carries every live view), and HTTP/1.1 with WebSocket
/// upgrades for connections that negotiate it by ALPN, as a browser does for a WebSocket (a connection of its own,
/// offering only http/1.1). Hummingbird's `http2Upgrade` serves HTTP/1.1 without upgrades, so the console could not
/// connect; this is the same negotiation with the upgradable channel on the HTTP/1.1 side.
struct SecureChannel<HTTP1: ServerChildChannel>: ServerChildChannel {
    enum Negotiated: Sendable {
        case http1(HTTP1.Value)
        case http2(HTTP2Channel.Value)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let sslContext: NIOSSLContext
    let http1: HTTP1
    let http2: HTTP2Channel

    /// `tls` with the protocols this channel speaks, in the order the server prefers them.
    static func context(_ tls: TLSConfiguration) throws -> NIOSSLContext {
        var tls = tls
        tls.applicationProtocols = ["h2", "http/1.1"]
        return try NIOSSLContext(configuration: tls)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result in
                switch result {
                case .negotiated("h2"):
                    return http2.setup(channel: channel, logger: logger).map { .http2($0) }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).map { .http1($0) }
                case .negotiated:
                    return channel.close().flatMap { channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported) }
                }
            }
            try channel.pipeline.syncOperations.addHandler(negotiation)
            return Value(negotiated: negotiation.protocolNegotiationResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2.handle(value: connection, logger: logger)
            }
        } catch {
            logger.debug("TLS connection ended before its protocol was agreed", metadata: ["error": "\(error)"])
        }
    }
}
