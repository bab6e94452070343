import Foundation
import NIOCore
import NIOHTTP1

extension EngineClient {
    /// `GET /networks`.
    public func listNetworks() async throws -> [Network] {
        try await decode([Network].self, EngineRequest(path: "/networks"))
    }

    /// `GET /networks/{id}`, with the connected containers.
    public func inspectNetwork(_ id: String) async throws -> Network {
        try await decode(Network.self, EngineRequest(path: "/networks/\(Self.pathComponent(id))"))
    }

    /// `POST /networks/create`.
    public func createNetwork(_ request: NetworkCreateRequest) async throws -> NetworkCreateResponse {
        try await decode(
            NetworkCreateResponse.self,
            EngineRequest(method: .POST, path: "/networks/create", body: try Self.encodeJSON(request))
        )
    }

    /// `DELETE /networks/{id}`; a network in use gives the daemon's conflict.
    public func removeNetwork(_ id: String) async throws {
        try await perform(EngineRequest(method: .DELETE, path: "/networks/\(Self.pathComponent(id))"))
    }

    /// `POST /networks/{id}/connect`, with an `EndpointConfig` (JSON: aliases, addresses) when given.
    public func connectNetwork(_ id: String, container: String, endpoint: Data? = nil) async throws {
        var body: [String: Any] = ["Container": container]
        if let endpoint, let config = try? JSONSerialization.jsonObject(with: endpoint) { body["EndpointConfig"] = config }
        try await perform(EngineRequest(
            method: .POST, path: "/networks/\(Self.pathComponent(id))/connect", body: try JSONSerialization.data(withJSONObject: body)
        ))
    }

    /// `POST /networks/{id}/disconnect`.
    public func disconnectNetwork(_ id: String, container: String, force: Bool = false) async throws {
        struct Body: Encodable {
            let Container: String
            let Force: Bool
        }
        try await perform(EngineRequest(
            method: .POST, path: "/networks/\(Self.pathComponent(id))/disconnect",
            body: try Self.encodeJSON(Body(Container: container, Force: force))
        ))
    }
}

extension EngineClient {
    /// `GET /volumes`.
    public func listVolumes() async throws -> [Volume] {
        try await decode(VolumeListResponse.self, EngineRequest(path: "/volumes")).volumes ?? []
    }

    /// `GET /volumes/{name}`: nil when there is no such volume.
    public func inspectVolume(_ name: String) async throws -> Volume? {
        do {
            return try await decode(Volume.self, EngineRequest(path: "/volumes/\(Self.pathComponent(name))"))
        } catch let error as EngineError where error.kind == .notFound {
            return nil
        }
    }

    /// `POST /volumes/create`.
    public func createVolume(_ request: VolumeCreateRequest) async throws -> Volume {
        try await decode(Volume.self, EngineRequest(method: .POST, path: "/volumes/create", body: try Self.encodeJSON(request)))
    }

    /// `DELETE /volumes/{name}`; a volume in use gives the daemon's conflict.
    public func removeVolume(_ name: String, force: Bool = false) async throws {
        try await perform(EngineRequest(
            method: .DELETE, path: "/volumes/\(Self.pathComponent(name))", query: [("force", force ? "1" : "0")]
        ))
    }

    /// `POST /volumes/prune`: local volumes no container uses. From API 1.42 the engine prunes only anonymous ones
    /// unless asked for all; Berth's preview lists all unused ones, so it asks for all.
    public func pruneVolumes() async throws -> PruneResponse {
        let version = try await apiVersion()
        let filters: [String: [String]] = version >= APIVersion(major: 1, minor: 42) ? ["all": ["true"]] : [:]
        return try await decode(
            PruneResponse.self,
            EngineRequest(method: .POST, path: "/volumes/prune", query: try Self.filtersQuery(filters), timeout: .minutes(5))
        )
    }

    /// `GET /system/df`: sizes of images, volumes and the build cache (slow on big hosts: it measures).
    public func diskUsage() async throws -> DiskUsage {
        try await decode(DiskUsage.self, EngineRequest(path: "/system/df", timeout: .minutes(2)))
    }

    /// `POST /containers/prune`: stopped containers.
    public func pruneContainers() async throws -> PruneResponse {
        try await decode(PruneResponse.self, EngineRequest(method: .POST, path: "/containers/prune", timeout: .minutes(5)))
    }

    /// `POST /networks/prune`: networks no container uses.
    public func pruneNetworks() async throws -> PruneResponse {
        try await decode(PruneResponse.self, EngineRequest(method: .POST, path: "/networks/prune", timeout: .minutes(5)))
    }

    /// `POST /build/prune`: the build cache.
    public func pruneBuildCache() async throws -> Int64 {
        struct Answer: Decodable {
            var SpaceReclaimed: Int64?
        }
        return try await decode(Answer.self, EngineRequest(method: .POST, path: "/build/prune", timeout: .minutes(5))).SpaceReclaimed ?? 0
    }
}
