import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A client for the Docker Engine API.
///
/// The API version is negotiated the way the Docker SDKs do it: the first call pings the daemon, reads its
/// `API-Version` header and speaks the lower of the daemon's version and ``APIVersion/current``. A forced version
/// (`DOCKER_API_VERSION`) skips the negotiation. The client owns a connection pool: call ``shutdown()`` when done.
public final class EngineClient: Sendable {
    public let address: EngineAddress
    let transport: EngineTransport
    let logger: Logger
    private let forcedVersion: APIVersion?
    private let negotiated = NIOLockedValueBox<APIVersion?>(nil)

    /// JSON documents from the engine are small; this bounds a misbehaving daemon.
    static let documentLimit = 64 * 1024 * 1024

    /// - Parameters:
    ///   - address: where the engine listens.
    ///   - apiVersion: a forced API version (what `DOCKER_API_VERSION` sets); nil negotiates.
    /// - Parameter maxStreams: followed logs open to the engine at once (each is a connection, a descriptor in the
    ///   daemon); one more throws ``EngineError/busy(_:)`` until one closes.
    /// - Parameter tls: TLS for an engine on TCP (`EngineTLS.load()`).
    /// - Parameter ssh: the key and known_hosts for an engine at `ssh://user@host` (`EngineSSH.load()`); without
    ///   them every call to such an engine throws ``EngineError/unreachable(address:reason:)`` saying so.
    public init(
        address: EngineAddress, tls: EngineTLS.Loaded? = nil, ssh: EngineSSH.Loaded? = nil, apiVersion: APIVersion? = nil,
        maxStreams: Int = .max, logger: Logger = Logger(label: "berth.engine")
    ) {
        self.address = address
        self.forcedVersion = apiVersion
        self.logger = logger
        self.transport = EngineTransport(address: address, tls: tls, ssh: ssh, maxStreams: maxStreams, logger: logger)
    }

    /// Streams of their own (followed logs) open to the engine now.
    public var openStreams: Int { transport.streamSlots.inUse }

    /// Reads `DOCKER_HOST` and `DOCKER_API_VERSION` from the environment as the Docker CLI does.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "berth.engine")
    ) throws -> EngineClient {
        let address = try environment["DOCKER_HOST"].map { try EngineAddress(parsing: $0) } ?? .systemDefault
        let version = try environment["DOCKER_API_VERSION"].map { try APIVersion.forced($0) }
        return EngineClient(address: address, apiVersion: version, logger: logger)
    }

    /// Closes the connection pool (and for an engine over SSH the tunnel, its sessions and the SSH connection).
    public func shutdown() async throws {
        try await transport.shutdown()
    }

    /// The API version requests are sent with, negotiating it on first use.
    ///
    /// A failed negotiation is not remembered, so a client created while the engine is down recovers when it comes up.
    public func apiVersion() async throws -> APIVersion {
        if let forcedVersion {
            guard forcedVersion >= .minimum else { throw EngineError.tooOld(forcedVersion, forced: true) }
            return forcedVersion
        }
        if let known = negotiated.withLockedValue({ $0 }) { return known }
        let ping = try await ping()
        let daemon = ping.apiVersion ?? .fallback
        guard daemon >= .minimum else { throw EngineError.tooOld(daemon, forced: false) }
        let agreed = min(daemon, .current)
        negotiated.withLockedValue { $0 = agreed }
        logger.info("negotiated engine API version", metadata: ["daemon": "\(daemon)", "agreed": "\(agreed)"])
        return agreed
    }

    // MARK: - Plumbing shared by the endpoint extensions

    /// Sends a versioned request and returns the response with its body still streaming.
    func stream(_ request: EngineRequest) async throws -> HTTPClientResponse {
        try await transport.send(request, version: apiVersion())
    }

    /// Sends a versioned request on a connection of its own and returns the body of a successful answer as it streams.
    func openStream(_ request: EngineRequest, follows: Bool) async throws -> StreamedBody {
        try await transport.openStream(request, version: apiVersion(), follows: follows)
    }

    /// Sends a versioned request and discards the (small) answer.
    func perform(_ request: EngineRequest) async throws {
        _ = try await transport.collect(request, version: apiVersion(), limit: Self.documentLimit)
    }

    /// Sends a versioned request and decodes its JSON answer.
    func decode<Value: Decodable>(_ type: Value.Type, _ request: EngineRequest) async throws -> Value {
        let body = try await transport.collect(request, version: apiVersion(), limit: Self.documentLimit)
        return try Self.decodeJSON(type, from: body)
    }

    static func decodeJSON<Value: Decodable>(_ type: Value.Type, from body: ByteBuffer) throws -> Value {
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch {
            throw EngineError.invalidResponse("cannot read \(Value.self): \(error)")
        }
    }

    static func encodeJSON(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(value)
    }

    /// Docker's `filters` query parameter: a JSON object of string lists.
    static func filtersQuery(_ filters: [String: [String]]) throws -> [(String, String)] {
        let nonEmpty = filters.filter { !$0.value.isEmpty }
        guard !nonEmpty.isEmpty else { return [] }
        return [("filters", String(decoding: try encodeJSON(nonEmpty), as: UTF8.self))]
    }
}

extension APIVersion {
    /// Parses a forced version (`DOCKER_API_VERSION`), refusing one Berth cannot speak.
    public static func forced(_ text: String) throws -> APIVersion {
        guard let version = APIVersion(text) else {
            throw EngineError.unsupportedAPIVersion("DOCKER_API_VERSION '\(text)' is not a version such as 1.41")
        }
        guard version >= .minimum else { throw EngineError.tooOld(version, forced: true) }
        return version
    }
}

extension EngineError {
    static func tooOld(_ version: APIVersion, forced: Bool) -> EngineError {
        let what = forced ? "the forced API version \(version)" : "the engine's API version \(version)"
        return .unsupportedAPIVersion("\(what) is older than \(APIVersion.minimum), the oldest Berth supports")
    }
}
