import Foundation

/// One network of `GET /networks` or `GET /networks/{id}` (which adds the connected containers).
public struct Network: Decodable, Sendable {
    public var id: String
    public var name: String?
    public var driver: String?
    public var scope: String?
    public var isInternal: Bool?
    public var attachable: Bool?
    public var created: String?
    public var ipam: IPAM?
    public var labels: [String: String]?
    /// By container id; only in the inspect answer.
    public var containers: [String: Endpoint]?
    /// The driver's options it was made with.
    public var options: [String: String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", driver = "Driver", scope = "Scope", isInternal = "Internal", attachable = "Attachable"
        case created = "Created", ipam = "IPAM", labels = "Labels", containers = "Containers", options = "Options"
    }

    public struct IPAM: Decodable, Sendable {
        public var config: [Config]?

        enum CodingKeys: String, CodingKey { case config = "Config" }

        public struct Config: Decodable, Sendable {
            public var subnet: String?
            public var gateway: String?

            enum CodingKeys: String, CodingKey { case subnet = "Subnet", gateway = "Gateway" }
        }
    }

    public struct Endpoint: Decodable, Sendable {
        public var name: String?
        public var ipv4Address: String?

        enum CodingKeys: String, CodingKey { case name = "Name", ipv4Address = "IPv4Address" }
    }

    /// The networks every engine has, which can't be removed.
    public var isPredefined: Bool { ["bridge", "host", "none", "ingress", "docker_gwbridge"].contains(name ?? "") }
}

/// `POST /networks/create`, built from typed fields only.
public struct NetworkCreateRequest: Encodable, Sendable {
    public var name: String
    public var driver: String
    public var isInternal: Bool
    public var attachable: Bool
    public var labels: [String: String]
    public var ipam: IPAMRequest?
    /// The driver's options (`driver_opts` of a compose file).
    public var options: [String: String]?
    public var checkDuplicate = true

    public struct IPAMRequest: Encodable, Sendable {
        public var config: [[String: String]]

        enum CodingKeys: String, CodingKey { case config = "Config" }
    }

    public init(name: String, driver: String, internal: Bool, attachable: Bool, labels: [String: String], subnet: String?) {
        self.name = name
        self.driver = driver
        isInternal = `internal`
        self.attachable = attachable
        self.labels = labels
        ipam = subnet.map { IPAMRequest(config: [["Subnet": $0]]) }
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", driver = "Driver", isInternal = "Internal", attachable = "Attachable", labels = "Labels"
        case ipam = "IPAM", options = "Options", checkDuplicate = "CheckDuplicate"
    }
}

public struct NetworkCreateResponse: Decodable, Sendable {
    public var id: String
    public var warning: String?

    enum CodingKeys: String, CodingKey { case id = "Id", warning = "Warning" }
}

/// One volume of `GET /volumes`.
public struct Volume: Decodable, Sendable {
    public var name: String
    public var driver: String?
    public var mountpoint: String?
    public var createdAt: String?
    public var labels: [String: String]?
    public var scope: String?
    public var options: [String: String]?

    enum CodingKeys: String, CodingKey {
        case name = "Name", driver = "Driver", mountpoint = "Mountpoint", createdAt = "CreatedAt", labels = "Labels"
        case scope = "Scope", options = "Options"
    }
}

struct VolumeListResponse: Decodable, Sendable {
    var volumes: [Volume]?

    enum CodingKeys: String, CodingKey { case volumes = "Volumes" }
}

/// `POST /volumes/create`.
public struct VolumeCreateRequest: Encodable, Sendable {
    public var name: String
    public var driver: String
    public var driverOpts: [String: String]
    public var labels: [String: String]

    public init(name: String, driver: String = "local", driverOpts: [String: String] = [:], labels: [String: String] = [:]) {
        self.name = name
        self.driver = driver
        self.driverOpts = driverOpts
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey { case name = "Name", driver = "Driver", driverOpts = "DriverOpts", labels = "Labels" }
}

/// `POST /volumes/prune` and `POST /containers/prune` and `POST /networks/prune` answers.
public struct PruneResponse: Decodable, Sendable {
    public var volumesDeleted: [String]?
    public var containersDeleted: [String]?
    public var networksDeleted: [String]?
    public var spaceReclaimed: Int64?

    enum CodingKeys: String, CodingKey {
        case volumesDeleted = "VolumesDeleted", containersDeleted = "ContainersDeleted", networksDeleted = "NetworksDeleted"
        case spaceReclaimed = "SpaceReclaimed"
    }
}

/// `GET /system/df`, the parts Berth shows.
public struct DiskUsage: Decodable, Sendable {
    public var layersSize: Int64?
    public var images: [ImageSummary]?
    public var volumes: [VolumeUsage]?
    public var buildCache: [BuildCacheItem]?

    enum CodingKeys: String, CodingKey { case layersSize = "LayersSize", images = "Images", volumes = "Volumes", buildCache = "BuildCache" }

    public struct VolumeUsage: Decodable, Sendable {
        public var name: String?
        public var usageData: Usage?

        enum CodingKeys: String, CodingKey { case name = "Name", usageData = "UsageData" }

        public struct Usage: Decodable, Sendable {
            public var size: Int64?
            public var refCount: Int64?

            enum CodingKeys: String, CodingKey { case size = "Size", refCount = "RefCount" }
        }
    }

    public struct BuildCacheItem: Decodable, Sendable {
        public var size: Int64?
        public var inUse: Bool?

        enum CodingKeys: String, CodingKey { case size = "Size", inUse = "InUse" }
    }
}
