import Foundation

/// Where the Docker Engine listens: a Unix socket (the default), a TCP address, or a host reached over SSH.
public enum EngineAddress: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)
    /// An engine on another host, reached as the docker CLI reaches `ssh://user@host:port`: over SSH, where
    /// `docker system dial-stdio` connects to the host's engine (see `EngineSSH`).
    case ssh(user: String, host: String, port: Int)

    /// The address Docker itself uses when `DOCKER_HOST` is unset.
    public static let systemDefault = EngineAddress.unix(path: "/var/run/docker.sock")

    /// Parses `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375` (or `http://…`), `ssh://user@host[:port]` and a bare
    /// absolute socket path.
    public init(parsing text: String) throws(EngineAddressError) {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw EngineAddressError(text, "a unix socket path must be absolute") }
            self = .unix(path: path)
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if text.hasPrefix("tcp://") || text.hasPrefix("http://") {
            var rest = Substring(text.drop(while: { $0 != "/" }).dropFirst(2))
            if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
            let (host, port) = try Self.hostAndPort(rest, defaultPort: 2375, in: text)
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("ssh://") {
            var rest = Substring(text.dropFirst("ssh://".count))
            // As the docker CLI: nothing after the host but a lone slash.
            if let slash = rest.firstIndex(of: "/") {
                guard rest[slash...] == "/" else { throw EngineAddressError(text, "an ssh:// address has no path") }
                rest = rest[..<slash]
            }
            guard let at = rest.lastIndex(of: "@"), at != rest.startIndex else {
                throw EngineAddressError(text, "the user is missing: ssh://user@host[:port]")
            }
            let user = rest[..<at]
            guard !user.contains(":") else {
                throw EngineAddressError(text, "Berth signs in with a key, never a password: ssh://user@host[:port]")
            }
            guard !user.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 32 || $0 == 127 } == true }) else {
                throw EngineAddressError(text, "the user name has spaces or control characters")
            }
            let (host, port) = try Self.hostAndPort(rest[rest.index(after: at)...], defaultPort: 22, in: text)
            self = .ssh(user: String(user), host: host, port: port)
        } else if text.hasPrefix("https://") || text.hasPrefix("npipe://") {
            throw EngineAddressError(text, "only unix://, tcp:// and ssh:// engine addresses are supported")
        } else {
            throw EngineAddressError(text, "expected unix:///path/to/docker.sock, tcp://host:port or ssh://user@host[:port]")
        }
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func hostAndPort(_ text: Substring, defaultPort: Int, in address: String) throws(EngineAddressError) -> (String, Int) {
        let host: Substring
        let portText: Substring?
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {  // [::1]:2375
            host = text[text.index(after: text.startIndex)..<close]
            let afterClose = text[text.index(after: close)...]
            guard afterClose.isEmpty || afterClose.hasPrefix(":") else { throw EngineAddressError(address, "unexpected text after the host") }
            portText = afterClose.isEmpty ? nil : afterClose.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
            portText = nil
        }
        guard !host.isEmpty else { throw EngineAddressError(address, "no host name") }
        guard let portText else { return (String(host), defaultPort) }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw EngineAddressError(address, "the port must be a number from 1 to 65535")
        }
        return (String(host), port)
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix://\(path)"
        case .tcp(let host, let port): return "tcp://\(Self.authority(host, port))"
        case .ssh(let user, let host, let port):
            return port == 22 ? "ssh://\(user)@\(host.contains(":") ? "[\(host)]" : host)" : "ssh://\(user)@\(Self.authority(host, port))"
        }
    }

    /// `host:port`, with an IPv6 address in brackets.
    static func authority(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// An engine address that Berth cannot use, with the reason.
public struct EngineAddressError: Error, Sendable, CustomStringConvertible {
    public let address: String
    public let reason: String

    init(_ address: String, _ reason: String) {
        self.address = address
        self.reason = reason
    }

    public var description: String { "invalid engine address '\(address)': \(reason)" }
}
