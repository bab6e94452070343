import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Where a request came from: the peer address, or the `X-Forwarded-For` of a proxy named by `--trusted-proxy`
/// (and only then: anyone can send that header).
struct ClientResolver: Sendable {
    let trustedProxy: String?

    struct Client: Sendable {
        var address: String
        /// Whether the browser reached us (or the trusted proxy) over TLS.
        var isSecure: Bool

        /// Whether the client is on this machine: 127.0.0.0/8, `::1` or an IPv4-mapped loopback address.
        var isLoopback: Bool {
            guard let parsed = try? SocketAddress(ipAddress: address, port: 0) else { return false }
            switch parsed {
            case .v4:
                // A valid dotted quad (parsed above) in 127.0.0.0/8.
                return address.hasPrefix("127.")
            case .v6:
                let lowered = address.lowercased()
                return lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" || lowered.hasPrefix("::ffff:127.")
            default:
                return false
            }
        }
    }

    func client(for request: Request, remote: SocketAddress?) -> Client {
        let peer = remote?.ipAddress ?? remote?.pathname ?? "unknown"
        guard let trustedProxy, peer == trustedProxy else {
            return Client(address: peer, isSecure: false)
        }
        // The proxy appends the address it saw last: the right-most entry is the one it vouches for.
        let forwarded = request.headers[values: .xForwardedFor].joined(separator: ",")
            .split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) }
        let proto = request.headers[.xForwardedProto]?.lowercased()
        return Client(address: forwarded.flatMap { $0.isEmpty ? nil : $0 } ?? peer, isSecure: proto == "https")
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xCSRFToken = Self("X-CSRF-Token")!
    static let secFetchSite = Self("Sec-Fetch-Site")!
    static let origin = Self("Origin")!
}
