import Foundation

/// One node of `GET /nodes`.
public struct SwarmNode: Decodable, Sendable {
    public var id: String
    public var version: ObjectVersion?
    public var spec: Spec?
    public var description: Description?
    public var status: Status?
    public var managerStatus: ManagerStatus?

    enum CodingKeys: String, CodingKey {
        case id = "ID", version = "Version", spec = "Spec", description = "Description", status = "Status"
        case managerStatus = "ManagerStatus"
    }

    public struct Spec: Codable, Sendable {
        public var name: String?
        public var labels: [String: String]?
        public var role: String?
        public var availability: String?

        enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels", role = "Role", availability = "Availability" }
    }

    public struct Description: Decodable, Sendable {
        public var hostname: String?
        public var engine: Engine?

        enum CodingKeys: String, CodingKey { case hostname = "Hostname", engine = "Engine" }

        public struct Engine: Decodable, Sendable {
            public var engineVersion: String?

            enum CodingKeys: String, CodingKey { case engineVersion = "EngineVersion" }
        }
    }

    public struct Status: Decodable, Sendable {
        public var state: String?
        public var addr: String?

        enum CodingKeys: String, CodingKey { case state = "State", addr = "Addr" }
    }

    public struct ManagerStatus: Decodable, Sendable {
        public var leader: Bool?
        public var reachability: String?

        enum CodingKeys: String, CodingKey { case leader = "Leader", reachability = "Reachability" }
    }
}

/// The version a swarm object must be updated at (optimistic concurrency).
public struct ObjectVersion: Decodable, Sendable {
    public var index: Int?

    enum CodingKeys: String, CodingKey { case index = "Index" }
}

/// One service of `GET /services`, the fields Berth shows.
public struct SwarmService: Decodable, Sendable {
    public var id: String
    public var version: ObjectVersion?
    public var spec: Spec?
    public var endpoint: Endpoint?

    enum CodingKeys: String, CodingKey { case id = "ID", version = "Version", spec = "Spec", endpoint = "Endpoint" }

    public struct Spec: Decodable, Sendable {
        public var name: String?
        public var labels: [String: String]?
        public var taskTemplate: TaskTemplate?
        public var mode: Mode?

        enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels", taskTemplate = "TaskTemplate", mode = "Mode" }
    }

    public struct TaskTemplate: Decodable, Sendable {
        public var containerSpec: ContainerSpec?

        enum CodingKeys: String, CodingKey { case containerSpec = "ContainerSpec" }

        public struct ContainerSpec: Decodable, Sendable {
            public var image: String?
            public var args: [String]?
            public var command: [String]?

            enum CodingKeys: String, CodingKey { case image = "Image", args = "Args", command = "Command" }
        }
    }

    public struct Mode: Decodable, Sendable {
        public var replicated: Replicated?
        public var global: [String: String]?

        enum CodingKeys: String, CodingKey { case replicated = "Replicated", global = "Global" }

        public struct Replicated: Decodable, Sendable {
            public var replicas: Int?

            enum CodingKeys: String, CodingKey { case replicas = "Replicas" }
        }
    }

    public struct Endpoint: Decodable, Sendable {
        public var ports: [Port]?

        enum CodingKeys: String, CodingKey { case ports = "Ports" }

        public struct Port: Decodable, Sendable {
            public var targetPort: Int?
            public var publishedPort: Int?
            public var proto: String?

            enum CodingKeys: String, CodingKey { case targetPort = "TargetPort", publishedPort = "PublishedPort", proto = "Protocol" }
        }
    }
}

/// One task of `GET /tasks`.
public struct SwarmTask: Decodable, Sendable {
    public var id: String
    public var serviceID: String?
    public var nodeID: String?
    public var slot: Int?
    public var desiredState: String?
    public var status: Status?

    enum CodingKeys: String, CodingKey {
        case id = "ID", serviceID = "ServiceID", nodeID = "NodeID", slot = "Slot", desiredState = "DesiredState", status = "Status"
    }

    public struct Status: Decodable, Sendable {
        public var timestamp: String?
        public var state: String?
        public var message: String?
        public var err: String?

        enum CodingKeys: String, CodingKey { case timestamp = "Timestamp", state = "State", message = "Message", err = "Err" }
    }
}
