import Foundation

/// Where the Docker Engine listens: a Unix socket (the default) or a plain TCP address.
public enum EngineAddress: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// The address Docker itself uses when `DOCKER_HOST` is unset.
    public static let systemDefault = EngineAddress.unix(path: "/var/run/docker.sock")

    /// Parses `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375` (or `http://…`) and a bare absolute socket path.
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
            let host: Substring
            let portText: Substring?
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {  // [::1]:2375
                host = rest[rest.index(after: rest.startIndex)..<close]
                let afterClose = rest[rest.index(after: close)...]
                portText = afterClose.hasPrefix(":") ? afterClose.dropFirst() : nil
            } else if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            } else {
                host = rest
                portText = nil
            }
            guard !host.isEmpty else { throw EngineAddressError(text, "no host name") }
            let port: Int
            if let portText {
                guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                    throw EngineAddressError(text, "the port must be a number from 1 to 65535")
                }
                port = parsed
            } else {
                port = 2375
            }
            self = .tcp(host: String(host), port: port)
        } else if text.hasPrefix("https://") || text.hasPrefix("ssh://") || text.hasPrefix("npipe://") {
            throw EngineAddressError(text, "only unix:// and tcp:// engine addresses are supported")
        } else {
            throw EngineAddressError(text, "expected unix:///path/to/docker.sock or tcp://host:port")
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix://\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
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
