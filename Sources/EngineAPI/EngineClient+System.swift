import AsyncHTTPClient
import NIOHTTP1
import NIOCore

extension EngineClient {
    /// `GET /_ping`: unversioned, so it works before negotiation.
    public func ping() async throws -> PingResult {
        let response = try await transport.send(EngineRequest(path: "/_ping", versioned: false, timeout: .seconds(10)), version: nil)
        let header = response.headers.first(name: "API-Version")
        // Drain the two-byte "OK" so the connection goes back to the pool.
        _ = try? await response.body.collect(upTo: 1024)
        return PingResult(
            apiVersion: header.flatMap { APIVersion($0) },
            osType: response.headers.first(name: "OSType"),
            experimental: response.headers.first(name: "Docker-Experimental") == "true"
        )
    }

    /// `GET /version`.
    public func version() async throws -> SystemVersion {
        try await decode(SystemVersion.self, EngineRequest(path: "/version"))
    }

    /// `GET /info`.
    public func info() async throws -> SystemInfo {
        try await decode(SystemInfo.self, EngineRequest(path: "/info"))
    }
}

/// What `/_ping` tells in its headers.
public struct PingResult: Sendable, Equatable {
    /// The daemon's newest API version; nil when the daemon sends no header (very old daemons).
    public var apiVersion: APIVersion?
    public var osType: String?
    public var experimental: Bool
}
