// Models follow the open schema rule: every field is optional and unknown fields are ignored, so a newer or older
// daemon never breaks decoding.

/// `GET /version`.
public struct SystemVersion: Decodable, Sendable {
    public var version: String?
    public var apiVersion: String?
    public var minAPIVersion: String?
    public var os: String?
    public var arch: String?
    public var kernelVersion: String?
    public var goVersion: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version", apiVersion = "ApiVersion", minAPIVersion = "MinAPIVersion", os = "Os", arch = "Arch"
        case kernelVersion = "KernelVersion", goVersion = "GoVersion"
    }
}

/// `GET /info`, the fields Berth shows.
public struct SystemInfo: Decodable, Sendable {
    public var id: String?
    public var name: String?
    public var serverVersion: String?
    public var operatingSystem: String?
    public var kernelVersion: String?
    public var architecture: String?
    public var cpuCount: Int?
    public var memoryTotal: Int64?
    public var containers: Int?
    public var containersRunning: Int?
    public var containersPaused: Int?
    public var containersStopped: Int?
    public var images: Int?
    public var driver: String?
    public var swarm: SwarmInfo?

    enum CodingKeys: String, CodingKey {
        case id = "ID", name = "Name", serverVersion = "ServerVersion", operatingSystem = "OperatingSystem"
        case kernelVersion = "KernelVersion", architecture = "Architecture", cpuCount = "NCPU", memoryTotal = "MemTotal"
        case containers = "Containers", containersRunning = "ContainersRunning", containersPaused = "ContainersPaused"
        case containersStopped = "ContainersStopped", images = "Images", driver = "Driver", swarm = "Swarm"
    }

    public struct SwarmInfo: Decodable, Sendable {
        /// `inactive`, `pending`, `active`, `error` or `locked`.
        public var localNodeState: String?
        public var controlAvailable: Bool?
        public var nodeID: String?

        enum CodingKeys: String, CodingKey {
            case localNodeState = "LocalNodeState", controlAvailable = "ControlAvailable", nodeID = "NodeID"
        }
    }

    /// Whether this engine manages a swarm (nodes, services and overlay networks can be asked for).
    public var isSwarmManager: Bool { swarm?.localNodeState == "active" && swarm?.controlAvailable == true }
}
