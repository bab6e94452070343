import BerthStore
import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Where Berth may send an alert: `http(s)://` to an address that is neither this machine (loopback) nor the
/// link-local range (where clouds answer with their metadata and credentials), unless an admin allows them
/// (`--alerts-allow-local`). Checked when a channel is saved and again before each send, since a name may resolve
/// elsewhere later.
enum OutboundURL {
    struct Refused: Error, Equatable {
        let message: String
    }

    /// Where a URL goes, without what may be secret in it (user, path, query): `https://host:port`.
    static func destination(_ text: String) -> String {
        guard let url = URL(string: text), let scheme = url.scheme, let host = url.host else { return "(not a URL)" }
        return "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
    }

    static func check(_ text: String, allowLocal: Bool, schemes: Set<String> = ["http", "https"]) throws(Refused) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), schemes.contains(scheme),
              let host = url.host, !host.isEmpty else {
            throw Refused(message: "That is not an " + schemes.sorted().map { "\($0)://" }.joined(separator: " or ") + " address.")
        }
        _ = try addresses(of: host, allowLocal: allowLocal)
        return url
    }

    /// The addresses of `host` that alerts may go to: all of them, and none when one is local (a name that is also
    /// local somewhere may be made to point there at will). Mail connects to one of these, not the name again; a
    /// webhook's HTTP client resolves the name once more (a gap left: it would need a resolver of Berth's own).
    static func addresses(of host: String, allowLocal: Bool) throws(Refused) -> [String] {
        let addresses = resolve(host)
        guard !addresses.isEmpty else { throw Refused(message: "\(host) does not resolve to an address.") }
        if !allowLocal, let local = addresses.first(where: isLocal) {
            throw Refused(
                message: "\(host) is \(local), on this machine or in the link-local range: alerts are not sent there unless Berth runs with --alerts-allow-local."
            )
        }
        return addresses
    }

    /// The host's addresses as text (`127.0.0.1`, `::1`).
    static func resolve(_ host: String) -> [String] {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(bare, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(cString: buffer))
            }
            entry = current.pointee.ai_next
        }
        return addresses
    }

    /// Loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0, ::), and IPv4 mapped
    /// into IPv6 the same.
    static func isLocal(_ address: String) -> Bool {
        var text = address.lowercased()
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
        if text.hasPrefix("::ffff:") { text = String(text.dropFirst(7)) }
        if text.contains(":") {
            return text == "::1" || text == "::" || text.hasPrefix("fe8") || text.hasPrefix("fe9") || text.hasPrefix("fea")
                || text.hasPrefix("feb") || text == "fd00:ec2::254"
        }
        // 0.0.0.0/8 reaches this machine on Linux; 100.100.100.200 and fd00:ec2::254 are clouds' metadata services.
        return text.hasPrefix("127.") || text.hasPrefix("169.254.") || text.hasPrefix("0.") || text == "100.100.100.200"
    }
}

/// Where a channel sends, checked: the one check the channel form and every send make.
enum ChannelTarget: Sendable {
    /// A webhook's or ntfy topic's URL.
    case http(URL)
    /// A mail server, and its addresses that may be connected to (connect to these, not the name again).
    case mail(MailChannelAddress, addresses: [String])

    /// Checks `address` for a channel of `kind`, resolving names off the cooperative threads (getaddrinfo blocks).
    static func check(kind: AlertChannel.Kind, address: String, allowLocal: Bool) async throws(OutboundURL.Refused) -> ChannelTarget {
        do {
            return try await NIOThreadPool.singleton.runIfActive { () throws(OutboundURL.Refused) -> ChannelTarget in
                switch kind {
                case .webhook, .ntfy:
                    return .http(try OutboundURL.check(address, allowLocal: allowLocal))
                case .email:
                    let mail = try MailChannelAddress(parsing: address)
                    return .mail(mail, addresses: try OutboundURL.addresses(of: mail.host, allowLocal: allowLocal))
                }
            }
        } catch let refused as OutboundURL.Refused {
            throw refused
        } catch {
            throw OutboundURL.Refused(message: "Berth is shutting down: the address was not checked.")
        }
    }
}
