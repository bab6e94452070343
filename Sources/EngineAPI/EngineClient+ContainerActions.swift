import Foundation
import NIOCore
import NIOHTTP1

extension EngineClient {
    /// `POST /containers/{id}/restart`; `timeout` seconds before the engine kills it.
    public func restartContainer(_ id: String, timeout: Int? = nil) async throws {
        let query = timeout.map { [("t", String($0))] } ?? []
        try await perform(
            EngineRequest(
                method: .POST, path: "/containers/\(Self.pathComponent(id))/restart", query: query,
                timeout: .seconds(Int64(timeout ?? 10) + 30)
            )
        )
    }

    /// `POST /containers/{id}/kill` with a signal name or number (`SIGKILL` when nil).
    public func killContainer(_ id: String, signal: String? = nil) async throws {
        let query = signal.map { [("signal", $0)] } ?? []
        try await perform(EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(id))/kill", query: query))
    }

    /// `POST /containers/{id}/pause`.
    public func pauseContainer(_ id: String) async throws {
        try await perform(EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(id))/pause"))
    }

    /// `POST /containers/{id}/unpause`.
    public func unpauseContainer(_ id: String) async throws {
        try await perform(EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(id))/unpause"))
    }

    /// `POST /containers/{id}/rename`.
    public func renameContainer(_ id: String, to name: String) async throws {
        try await perform(
            EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(id))/rename", query: [("name", name)])
        )
    }

    /// `GET /containers/{id}/json` as the engine sent it, pretty-printed, for admins who want everything.
    public func inspectContainerRaw(_ id: String) async throws -> String {
        let body = try await transport.collect(
            EngineRequest(path: "/containers/\(Self.pathComponent(id))/json"), version: apiVersion(), limit: Self.documentLimit
        )
        let data = Data(body.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: data),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else {
            return String(decoding: data, as: UTF8.self)
        }
        return String(decoding: pretty, as: UTF8.self)
    }

    /// `POST /commit`: a new image from a container's filesystem.
    public func commitContainer(_ id: String, options: CommitOptions) async throws -> CommitResponse {
        var query: [(String, String)] = [("container", id), ("pause", options.pause ? "1" : "0")]
        if let repository = options.repository { query.append(("repo", repository)) }
        if let tag = options.tag { query.append(("tag", tag)) }
        if let message = options.message { query.append(("comment", message)) }
        if let author = options.author { query.append(("author", author)) }
        // The body is a container config merged over the container's own: only labels are set here.
        let body = try Self.encodeJSON(CommitConfig(labels: options.labels.isEmpty ? nil : options.labels))
        return try await decode(
            CommitResponse.self,
            EngineRequest(method: .POST, path: "/commit", query: query, body: body, timeout: .minutes(10))
        )
    }
}

/// What `POST /commit` is told.
public struct CommitOptions: Sendable, Equatable {
    public var repository: String?
    public var tag: String?
    public var message: String?
    public var author: String?
    /// Pause the container while its filesystem is copied (the engine's default).
    public var pause: Bool
    /// Labels for the new image, on top of the container's.
    public var labels: [String: String]

    public init(
        repository: String? = nil, tag: String? = nil, message: String? = nil, author: String? = nil, pause: Bool = true,
        labels: [String: String] = [:]
    ) {
        self.repository = repository
        self.tag = tag
        self.message = message
        self.author = author
        self.pause = pause
        self.labels = labels
    }
}

private struct CommitConfig: Encodable {
    var labels: [String: String]?

    enum CodingKeys: String, CodingKey {
        case labels = "Labels"
    }
}

/// The answer of `POST /commit`.
public struct CommitResponse: Decodable, Sendable {
    public var id: String

    enum CodingKeys: String, CodingKey {
        case id = "Id"
    }
}
