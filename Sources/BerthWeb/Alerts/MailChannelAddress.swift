import Foundation
import Mail

/// Where an e-mail channel sends: `smtp://[user@]host[:port]/?from=…&to=…[,…]`, STARTTLS whenever the server offers
/// it (port 587 unless named), or `smtps://` for TLS from the first byte (port 465). The form shoutrrr made common
/// (Arcane and Watchtower users write it), except that the password is never in the address: it is the channel's
/// secret, sealed like any stored secret.
struct MailChannelAddress: Sendable, Equatable {
    let security: MailServer.Security
    let host: String
    let port: Int
    let username: String?
    let from: String
    let to: [String]

    static let schemes: Set<String> = ["smtp", "smtps"]

    init(parsing text: String) throws(OutboundURL.Refused) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              Self.schemes.contains(scheme), let host = components.host, !host.isEmpty else {
            throw OutboundURL.Refused(message: "A mail server is smtp://[user@]host[:port]/?from=…&to=… (or smtps:// for TLS from the start).")
        }
        guard components.password == nil else {
            throw OutboundURL.Refused(message: "Put the mail server's password in the secret field, not in the address (the address is shown to admins).")
        }
        let query = components.queryItems ?? []
        func values(_ name: String) -> [String] {
            query.filter { $0.name.lowercased() == name }.flatMap { ($0.value ?? "").split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let from = values("from")
        let to = values("to")
        guard from.count == 1, MailAddress.isPlausible(from[0]) else {
            throw OutboundURL.Refused(message: "Name the sender once: ?from=berth@example.com.")
        }
        guard !to.isEmpty, to.count <= 50 else {
            throw OutboundURL.Refused(message: "Name the recipients: &to=ops@example.com (up to 50, comma-separated).")
        }
        if let wrong = to.first(where: { !MailAddress.isPlausible($0) }) {
            throw OutboundURL.Refused(message: "“\(wrong)” is not an e-mail address.")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw OutboundURL.Refused(message: "\(port) is not a port (1 to 65535).")
        }
        security = scheme == "smtps" ? .implicitTLS : .startTLSWhenOffered
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (scheme == "smtps" ? 465 : 587)
        username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.from = from[0]
        self.to = to
    }
}
