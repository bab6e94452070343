import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension EngineClient {
    /// `GET /nodes`; an engine that is not a swarm manager answers 503 (thrown).
    public func listNodes() async throws -> [SwarmNode] {
        try await decode([SwarmNode].self, EngineRequest(path: "/nodes"))
    }

    /// `POST /nodes/{id}/update`: the node's spec with a new availability (`active`, `pause`, `drain`), at the
    /// version it was read at.
    public func setNodeAvailability(_ id: String, to availability: String) async throws {
        let node = try await decode(SwarmNode.self, EngineRequest(path: "/nodes/\(Self.pathComponent(id))"))
        var spec = node.spec ?? SwarmNode.Spec()
        spec.availability = availability
        try await perform(EngineRequest(
            method: .POST, path: "/nodes/\(Self.pathComponent(node.id))/update",
            query: [("version", String(node.version?.index ?? 0))], body: try Self.encodeJSON(spec)
        ))
    }

    /// `GET /services`.
    public func listServices() async throws -> [SwarmService] {
        try await decode([SwarmService].self, EngineRequest(path: "/services"))
    }

    /// `GET /services/{id}`.
    public func inspectService(_ id: String) async throws -> SwarmService {
        try await decode(SwarmService.self, EngineRequest(path: "/services/\(Self.pathComponent(id))"))
    }

    /// Sets a replicated service's replicas: its spec is sent back as the engine gave it (every field Berth does not
    /// model kept as is), with only the replica count changed, at the version it was read at.
    public func scaleService(_ id: String, replicas: Int) async throws {
        let raw = try await transport.collect(
            EngineRequest(path: "/services/\(Self.pathComponent(id))"), version: apiVersion(), limit: Self.documentLimit
        )
        guard let service = try JSONSerialization.jsonObject(with: Data(raw.readableBytesView)) as? [String: Any],
              let serviceID = service["ID"] as? String, var spec = service["Spec"] as? [String: Any],
              var mode = spec["Mode"] as? [String: Any], var replicated = mode["Replicated"] as? [String: Any] else {
            throw EngineError.invalidResponse("the service is not a replicated service: only those can be scaled")
        }
        let version = (service["Version"] as? [String: Any])?["Index"] as? Int ?? 0
        replicated["Replicas"] = replicas
        mode["Replicated"] = replicated
        spec["Mode"] = mode
        try await perform(EngineRequest(
            method: .POST, path: "/services/\(Self.pathComponent(serviceID))/update", query: [("version", String(version))],
            body: try JSONSerialization.data(withJSONObject: spec)
        ))
    }

    /// `GET /tasks?filters={"service":[id]}`.
    public func listTasks(service: String) async throws -> [SwarmTask] {
        try await decode([SwarmTask].self, EngineRequest(path: "/tasks", query: try Self.filtersQuery(["service": [service]])))
    }

    /// `GET /services/{id}/logs`: the service's tasks' output, in the containers' frame format.
    public func serviceLogs(_ id: String, options: LogOptions = .init()) async throws -> ContainerLogs {
        var query: [(String, String)] = [
            ("stdout", options.stdout ? "1" : "0"), ("stderr", options.stderr ? "1" : "0"),
            ("timestamps", options.timestamps ? "1" : "0"), ("follow", options.follow ? "1" : "0"),
        ]
        if let tail = options.tail { query.append(("tail", String(tail))) }
        if let since = options.since { query.append(("since", since)) }
        let body = try await openStream(EngineRequest(path: "/services/\(Self.pathComponent(id))/logs", query: query, timeout: options.timeout), follows: options.follow)
        return ContainerLogs(body: body, tty: false, address: address.description)
    }
}

/// `POST /services/create`, built from typed fields only: a replicated service of one image.
public struct ServiceCreateRequest: Encodable, Sendable {
    public var name: String
    public var image: String
    public var command: [String]
    public var replicas: Int
    public var labels: [String: String]

    public init(name: String, image: String, command: [String], replicas: Int, labels: [String: String] = [:]) {
        self.name = name
        self.image = image
        self.command = command
        self.replicas = replicas
        self.labels = labels
    }

    public func encode(to encoder: any Encoder) throws {
        struct ContainerSpec: Encodable {
            let Image: String
            let Args: [String]?
        }
        struct TaskTemplate: Encodable { let ContainerSpec: ContainerSpec }
        struct Replicated: Encodable { let Replicas: Int }
        struct Mode: Encodable { let Replicated: Replicated }
        struct Spec: Encodable {
            let Name: String
            let Labels: [String: String]
            let TaskTemplate: TaskTemplate
            let Mode: Mode
        }
        try Spec(
            Name: name, Labels: labels,
            TaskTemplate: TaskTemplate(ContainerSpec: ContainerSpec(Image: image, Args: command.isEmpty ? nil : command)),
            Mode: Mode(Replicated: Replicated(Replicas: replicas))
        ).encode(to: encoder)
    }
}

extension EngineClient {
    /// `POST /services/create`; returns the new service's id.
    public func createService(_ request: ServiceCreateRequest) async throws -> String {
        struct Answer: Decodable { let ID: String }
        return try await decode(Answer.self, EngineRequest(method: .POST, path: "/services/create", body: try Self.encodeJSON(request))).ID
    }

    /// `DELETE /services/{id}`.
    public func removeService(_ id: String) async throws {
        try await perform(EngineRequest(method: .DELETE, path: "/services/\(Self.pathComponent(id))"))
    }
}
