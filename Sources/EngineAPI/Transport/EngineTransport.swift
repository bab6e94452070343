import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One request to the Engine API, before the version prefix and address are applied.
struct EngineRequest: Sendable {
    var method: HTTPMethod = .GET
    /// The path without version prefix, such as `/containers/json`.
    var path: String
    var query: [(String, String)] = []
    var body: Data? = nil
    /// Extra headers, such as `X-Registry-Auth`.
    var headers: [(String, String)] = []
    /// Whether the path gets the negotiated `/v1.xx` prefix (only `/_ping` and friends do without).
    var versioned = true
    /// How long the whole exchange may take, body included (for a stream: until its head arrives).
    var timeout: TimeAmount = .seconds(60)
    /// Asks the engine to hand the connection over to the stream both ways (`Upgrade: tcp`), as attaching to a
    /// process's input does; a `101` answer is the success. Only for ``EngineTransport/openConnection``.
    var upgrade = false

    /// Refuses a path with a `.` or `..` segment, however it was escaped: the engine's router would resolve it into
    /// another endpoint (`/containers/../json` is `/json`). No container, image, volume or network is named so, so
    /// the answer is the engine's own for a missing object.
    func checkPath() throws(EngineError) {
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            let decoded = String(segment).removingPercentEncoding ?? String(segment)
            if decoded == "." || decoded == ".." {
                throw EngineError.daemon(status: 404, message: "No such object: \(decoded)")
            }
        }
    }
}

/// Sends requests to the engine over a Unix socket, TCP or SSH and hands back the response with its body still streaming.
///
/// It owns its `HTTPClient` (not `HTTPClient.shared`: that one follows redirects and has a read timeout that would cut
/// long streams), so it must be shut down. An engine over SSH is dialled through the local socket of an
/// ``SSHTunnel``, which shutting down closes too.
final class EngineTransport: Sendable {
    let address: EngineAddress
    /// TLS for an engine on TCP (`--tlsverify` daemons); nil: plain.
    let tls: EngineTLS.Loaded?
    /// The engine's host over SSH (an `ssh://` address with its key and known_hosts); nil for any other address.
    let tunnel: SSHTunnel?
    private let client: HTTPClient
    private let logger: Logger

    /// Error bodies are short JSON documents; anything longer is cut.
    static let errorBodyLimit = 64 * 1024

    /// Connections of their own (`openStream`) that may be open at once.
    let streamSlots: StreamSlots

    init(address: EngineAddress, tls: EngineTLS.Loaded? = nil, ssh: EngineSSH.Loaded? = nil, maxStreams: Int = .max, logger: Logger) {
        self.address = address
        self.tls = tls
        if case .ssh(let user, let host, let port) = address, let ssh {
            self.tunnel = SSHTunnel(user: user, host: host, port: port, ssh: ssh, logger: logger)
        } else {
            self.tunnel = nil
        }
        self.logger = logger
        self.streamSlots = StreamSlots(limit: maxStreams)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: nil),
            decompression: .disabled
        )
        // Every open log, events or stats stream holds a connection for as long as it runs: with the library's default
        // of 8, a ninth stream would make every other engine call (page loads included) queue behind them.
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        // A missing socket or a refused connection must fail at once, not be retried until the connect timeout:
        // a page with the engine down would otherwise hang for seconds.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        configuration.tlsConfiguration = tls?.configuration
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    func shutdown() async throws {
        // The pool's connections first: each is a session on the tunnel's SSH connection.
        do {
            try await client.shutdown()
        } catch {
            await tunnel?.shutdown()
            throw error
        }
        await tunnel?.shutdown()
    }

    /// Where connections are made: the address itself, or for an engine over SSH the tunnel's local socket.
    func endpoint() async throws(EngineError) -> EngineAddress {
        guard case .ssh = address else { return address }
        guard let tunnel else {
            throw EngineError.unreachable(address: address.description, reason: "an ssh:// engine needs an SSH key and a known_hosts file")
        }
        do {
            return .unix(path: try await tunnel.socketPath())
        } catch {
            throw EngineError.unreachable(address: address.description, reason: SSHTunnel.describe(error))
        }
    }

    /// An engine that cannot be reached, with the reason; over SSH a connection that closed without an answer is
    /// explained by what failed on the way (the SSH connection, or the command on the host), when that just happened.
    func unreachable(_ error: any Error) -> EngineError {
        EngineError.unreachable(address: address.description, reason: tunnel?.recentFailure ?? Self.reason(for: error))
    }

    /// Sends the request; throws `EngineError.daemon` for an error status and `.unreachable` when the engine can't be
    /// reached. On success the body is left for the caller to stream.
    func send(_ request: EngineRequest, version: APIVersion?) async throws -> HTTPClientResponse {
        try request.checkPath()
        let uri = Self.uri(for: request, version: version)
        let url: String
        switch try await endpoint() {
        case .unix(let path):
            guard let socketURL = URL(httpURLWithSocketPath: path, uri: uri) else {
                throw EngineError.unreachable(address: address.description, reason: "socket path cannot be used in a URL")
            }
            url = socketURL.absoluteString
        case .tcp(let host, let port):
            let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            url = "\(tls == nil ? "http" : "https")://\(authority)\(uri)"
        case .ssh:
            preconditionFailure("an engine over SSH is dialled through its tunnel's socket")
        }
        var httpRequest = HTTPClientRequest(url: url)
        httpRequest.method = request.method
        // The engine is a Go HTTP server, which wants a Host header; async-http-client sends none for Unix sockets.
        httpRequest.headers.replaceOrAdd(name: "Host", value: "docker")
        httpRequest.headers.add(name: "User-Agent", value: "Berth")
        for (name, value) in request.headers { httpRequest.headers.add(name: name, value: value) }
        if let body = request.body {
            httpRequest.headers.add(name: "Content-Type", value: "application/json")
            httpRequest.body = .bytes(ByteBuffer(data: body))
        }

        logger.debug("engine request", metadata: ["method": "\(request.method.rawValue)", "uri": "\(uri)"])
        let response: HTTPClientResponse
        do {
            response = try await client.execute(httpRequest, timeout: request.timeout, logger: logger)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw unreachable(error)
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            throw await Self.daemonError(from: response)
        }
        return response
    }

    /// Sends the request and collects the whole (bounded) body, for endpoints that answer with one JSON document.
    ///
    /// The request's timeout covers the body too: some endpoints (`/wait`) send their head at once and the body only
    /// when the event happens.
    func collect(_ request: EngineRequest, version: APIVersion?, limit: Int) async throws -> ByteBuffer {
        let deadline = NIODeadline.now() + request.timeout
        let response = try await send(request, version: version)
        let address = self.address.description
        let collecting = Task { try await response.body.collect(upTo: limit) }
        // A timer on an event loop, cancelled with the answer. Not a sleeping task raced against the body: a cancelled
        // `Task.sleep` keeps its timer and its task (~600 bytes) until the deadline, so each engine call left one
        // behind for a minute (thousands under load, still there after it).
        let timedOut = NIOLockedValueBox(false)
        let timer = client.eventLoopGroup.any().scheduleTask(deadline: deadline) {
            timedOut.withLockedValue { $0 = true }
            collecting.cancel()
        }
        defer { timer.cancel() }
        do {
            let body = try await withTaskCancellationHandler {
                try await collecting.value
            } onCancel: {
                collecting.cancel()
            }
            // A body cut short by the timer may end without an error.
            if timedOut.withLockedValue({ $0 }) { throw EngineError.unreachable(address: address, reason: "no answer in time") }
            return body
        } catch let error as EngineError {
            throw error
        } catch _ where timedOut.withLockedValue({ $0 }) {
            throw EngineError.unreachable(address: address, reason: "no answer in time")
        } catch let error as NIOTooManyBytesError {
            throw EngineError.invalidResponse("answer larger than \(limit) bytes (\(error))")
        } catch let error as CancellationError {
            throw error
        } catch {
            throw unreachable(error)
        }
    }

    static func uri(for request: EngineRequest, version: APIVersion?) -> String {
        var uri = ""
        if request.versioned, let version { uri += "/v\(version)" }
        uri += request.path
        if !request.query.isEmpty {
            uri += "?" + request.query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
        }
        return uri
    }

    private static let queryValueAllowed: CharacterSet = {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return allowed
    }()

    static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: queryValueAllowed) ?? text
    }

    /// Reads the daemon's `{"message": "…"}` error body; falls back to the body text or the status line.
    private static func daemonError(from response: HTTPClientResponse) async -> EngineError {
        let body = try? await response.body.collect(upTo: errorBodyLimit)
        return daemonError(status: Int(response.status.code), reason: response.status.reasonPhrase, body: body)
    }

    static func daemonError(status: Int, reason: String, body: ByteBuffer?) -> EngineError {
        if let body, body.readableBytes > 0 {
            let data = Data(body.readableBytesView)
            if let decoded = try? JSONDecoder().decode(DaemonErrorBody.self, from: data), let message = decoded.message {
                return .daemon(status: status, message: message)
            }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .daemon(status: status, message: text)
        }
        if status == 304 { return .daemon(status: status, message: "not modified") }
        return .daemon(status: status, message: reason)
    }

    /// A short reason a person can act on, instead of NIO's error dump.
    static func reason(for error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "timed out connecting"
            case .deadlineExceeded: return "no answer in time"
            case .readTimeout: return "no answer in time"
            case .remoteConnectionClosed: return "the engine closed the connection"
            default: return String(describing: error)
            }
        }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return reason(for: first.error) }
            if let dns = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve host: \(dns)" }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ENOENT: return "no socket at that path"
            case ECONNREFUSED: return "connection refused"
            case EACCES, EPERM: return "permission denied (the Berth user needs access to the socket, e.g. the docker group)"
            case ENOTSOCK: return "that path is not a socket"
            case ETIMEDOUT: return "timed out connecting"
            default: return String(cString: strerror(error.errnoCode))
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "timed out connecting" }
        return String(describing: error)
    }
}

private struct DaemonErrorBody: Decodable {
    var message: String?
}

/// A count of the connections of their own that are open, against a limit.
///
/// Streams that last (followed logs) may not take the last eighth of the slots: those stay for reads that end by
/// themselves (a page catching up on a log before it joins the followed one), so that a new page gets its first lines
/// even while every lasting slot is taken.
final class StreamSlots: Sendable {
    let limit: Int
    private let used = NIOLockedValueBox(0)

    init(limit: Int) { self.limit = limit }

    var inUse: Int { used.withLockedValue { $0 } }

    /// The slots a lasting stream may use.
    var lastingLimit: Int { limit < 2 ? limit : limit - max(1, limit / 8) }

    func acquire(lasting: Bool) -> Bool {
        let limit = lasting ? lastingLimit : self.limit
        return used.withLockedValue { used in
            guard used < limit else { return false }
            used += 1
            return true
        }
    }

    func release() { used.withLockedValue { $0 -= 1 } }
}
