/// One row of `GET /containers/json`.
public struct ContainerSummary: Decodable, Sendable {
    public var id: String
    public var names: [String]?
    public var image: String?
    public var imageID: String?
    public var command: String?
    /// Seconds since the epoch.
    public var created: Int64?
    public var ports: [Port]?
    public var labels: [String: String]?
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    public var state: String?
    /// Human text such as `Up 3 minutes`.
    public var status: String?
    /// Volumes and binds, as in inspect.
    public var mounts: [ContainerInspect.Mount]?
    public var networkSettings: SummaryNetworkSettings?

    enum CodingKeys: String, CodingKey {
        case id = "Id", names = "Names", image = "Image", imageID = "ImageID", command = "Command", created = "Created"
        case ports = "Ports", labels = "Labels", state = "State", status = "Status", mounts = "Mounts"
        case networkSettings = "NetworkSettings"
    }

    public struct SummaryNetworkSettings: Decodable, Sendable {
        public var networks: [String: Endpoint]?

        enum CodingKeys: String, CodingKey { case networks = "Networks" }

        public struct Endpoint: Decodable, Sendable {
            public var ipAddress: String?

            enum CodingKeys: String, CodingKey { case ipAddress = "IPAddress" }
        }
    }

    /// The networks the container is attached to, by name.
    public var networkNames: [String] { Array((networkSettings?.networks ?? [:]).keys) }

    /// The first name without Docker's leading slash.
    public var name: String {
        guard let first = names?.first else { return String(id.prefix(12)) }
        return first.hasPrefix("/") ? String(first.dropFirst()) : first
    }

    public struct Port: Decodable, Sendable, Equatable {
        public var ip: String?
        public var privatePort: Int?
        public var publicPort: Int?
        public var type: String?

        enum CodingKeys: String, CodingKey {
            case ip = "IP", privatePort = "PrivatePort", publicPort = "PublicPort", type = "Type"
        }
    }
}

/// `GET /containers/{id}/json`, the fields Berth uses.
public struct ContainerInspect: Decodable, Sendable {
    public var id: String
    public var name: String?
    /// RFC 3339 time.
    public var created: String?
    public var path: String?
    public var args: [String]?
    public var state: State?
    public var image: String?
    public var restartCount: Int?
    public var config: Config?
    public var hostConfig: HostConfig?
    public var mounts: [Mount]?
    public var networkSettings: NetworkSettings?

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", created = "Created", path = "Path", args = "Args", state = "State"
        case image = "Image", restartCount = "RestartCount", config = "Config", hostConfig = "HostConfig", mounts = "Mounts"
        case networkSettings = "NetworkSettings"
    }

    /// The name without Docker's leading slash; the short id when there is none.
    public var displayName: String {
        guard let name, !name.isEmpty else { return String(id.prefix(12)) }
        return name.hasPrefix("/") ? String(name.dropFirst()) : name
    }

    public struct NetworkSettings: Decodable, Sendable {
        /// `"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]`; null for exposed but unpublished ports.
        public var ports: [String: [PortBinding]?]?
        public var networks: [String: EndpointSettings]?

        enum CodingKeys: String, CodingKey {
            case ports = "Ports", networks = "Networks"
        }
    }

    public struct PortBinding: Codable, Sendable, Equatable {
        public var hostIP: String?
        public var hostPort: String?

        public init(hostIP: String? = nil, hostPort: String?) {
            self.hostIP = hostIP
            self.hostPort = hostPort
        }

        enum CodingKeys: String, CodingKey {
            case hostIP = "HostIp", hostPort = "HostPort"
        }
    }

    public struct EndpointSettings: Decodable, Sendable {
        public var ipAddress: String?
        public var gateway: String?
        public var macAddress: String?

        enum CodingKeys: String, CodingKey {
            case ipAddress = "IPAddress", gateway = "Gateway", macAddress = "MacAddress"
        }
    }

    public struct State: Decodable, Sendable {
        public var status: String?
        public var running: Bool?
        public var paused: Bool?
        public var restarting: Bool?
        public var oomKilled: Bool?
        public var dead: Bool?
        public var pid: Int?
        public var exitCode: Int?
        public var error: String?
        public var startedAt: String?
        public var finishedAt: String?
        public var health: Health?

        enum CodingKeys: String, CodingKey {
            case status = "Status", running = "Running", paused = "Paused", restarting = "Restarting"
            case oomKilled = "OOMKilled", dead = "Dead", pid = "Pid", exitCode = "ExitCode", error = "Error"
            case startedAt = "StartedAt", finishedAt = "FinishedAt", health = "Health"
        }
    }

    public struct Health: Decodable, Sendable {
        public var status: String?
        public var failingStreak: Int?

        enum CodingKeys: String, CodingKey {
            case status = "Status", failingStreak = "FailingStreak"
        }
    }

    public struct Config: Decodable, Sendable {
        public var hostname: String?
        public var user: String?
        public var env: [String]?
        public var cmd: [String]?
        public var entrypoint: [String]?
        public var image: String?
        public var workingDir: String?
        public var labels: [String: String]?
        /// Whether the container has a TTY; decides whether its logs are multiplexed.
        public var tty: Bool?
        public var openStdin: Bool?

        enum CodingKeys: String, CodingKey {
            case hostname = "Hostname", user = "User", env = "Env", cmd = "Cmd", entrypoint = "Entrypoint"
            case image = "Image", workingDir = "WorkingDir", labels = "Labels", tty = "Tty", openStdin = "OpenStdin"
        }
    }

    public struct HostConfig: Decodable, Sendable {
        public var networkMode: String?
        public var autoRemove: Bool?
        public var privileged: Bool?
        public var restartPolicy: RestartPolicy?
        public var logConfig: LogConfig?

        enum CodingKeys: String, CodingKey {
            case networkMode = "NetworkMode", autoRemove = "AutoRemove", privileged = "Privileged"
            case restartPolicy = "RestartPolicy", logConfig = "LogConfig"
        }
    }

    public struct Mount: Decodable, Sendable {
        public var type: String?
        public var name: String?
        public var source: String?
        public var destination: String?
        public var readWrite: Bool?

        enum CodingKeys: String, CodingKey {
            case type = "Type", name = "Name", source = "Source", destination = "Destination", readWrite = "RW"
        }
    }
}

/// A restart policy, as sent in a create request and read back by inspect.
public struct RestartPolicy: Codable, Sendable, Equatable {
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    public var name: String?
    public var maximumRetryCount: Int?

    public init(name: String?, maximumRetryCount: Int? = nil) {
        self.name = name
        self.maximumRetryCount = maximumRetryCount
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", maximumRetryCount = "MaximumRetryCount"
    }
}

/// The body of `POST /containers/create`. Nil fields are left out, so the daemon applies its defaults.
public struct ContainerCreateRequest: Encodable, Sendable {
    public var image: String
    public var cmd: [String]?
    public var entrypoint: [String]?
    public var env: [String]?
    public var labels: [String: String]?
    public var workingDir: String?
    public var user: String?
    public var tty: Bool?
    /// `"80/tcp": {}` for every port that is published.
    public var exposedPorts: [String: EmptyObject]?
    public var hostConfig: HostConfig?
    public var hostname: String?
    public var openStdin: Bool?
    public var healthcheck: HealthConfig?
    /// The networks to join at creation, with their aliases (`NetworkingConfig.EndpointsConfig`).
    public var networkingConfig: NetworkingConfig?

    public init(
        image: String, cmd: [String]? = nil, entrypoint: [String]? = nil, env: [String]? = nil,
        labels: [String: String]? = nil, workingDir: String? = nil, user: String? = nil, tty: Bool? = nil,
        exposedPorts: [String: EmptyObject]? = nil, hostConfig: HostConfig? = nil
    ) {
        self.image = image
        self.cmd = cmd
        self.entrypoint = entrypoint
        self.env = env
        self.labels = labels
        self.workingDir = workingDir
        self.user = user
        self.tty = tty
        self.exposedPorts = exposedPorts
        self.hostConfig = hostConfig
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image", cmd = "Cmd", entrypoint = "Entrypoint", env = "Env", labels = "Labels"
        case workingDir = "WorkingDir", user = "User", tty = "Tty", exposedPorts = "ExposedPorts", hostConfig = "HostConfig"
        case hostname = "Hostname", openStdin = "OpenStdin", healthcheck = "Healthcheck", networkingConfig = "NetworkingConfig"
    }

    /// `Healthcheck`: `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`, durations in nanoseconds.
    public struct HealthConfig: Encodable, Sendable, Equatable {
        public var test: [String]
        public var interval: Int64?
        public var timeout: Int64?
        public var startPeriod: Int64?
        public var retries: Int?

        public init(test: [String], interval: Int64? = nil, timeout: Int64? = nil, startPeriod: Int64? = nil, retries: Int? = nil) {
            self.test = test
            self.interval = interval
            self.timeout = timeout
            self.startPeriod = startPeriod
            self.retries = retries
        }

        enum CodingKeys: String, CodingKey {
            case test = "Test", interval = "Interval", timeout = "Timeout", startPeriod = "StartPeriod", retries = "Retries"
        }
    }

    public struct NetworkingConfig: Encodable, Sendable, Equatable {
        public struct Endpoint: Encodable, Sendable, Equatable {
            public var aliases: [String]?

            public init(aliases: [String]?) {
                self.aliases = aliases
            }

            enum CodingKeys: String, CodingKey {
                case aliases = "Aliases"
            }
        }

        public var endpointsConfig: [String: Endpoint]

        public init(endpointsConfig: [String: Endpoint]) {
            self.endpointsConfig = endpointsConfig
        }

        enum CodingKeys: String, CodingKey {
            case endpointsConfig = "EndpointsConfig"
        }
    }

    /// `{}`, as the engine wants it in `ExposedPorts`.
    public struct EmptyObject: Codable, Sendable, Equatable {
        public init() {}
    }

    public struct HostConfig: Encodable, Sendable {
        public var networkMode: String?
        public var autoRemove: Bool?
        public var binds: [String]?
        public var mounts: [Mount]?
        public var portBindings: [String: [ContainerInspect.PortBinding]]?
        public var restartPolicy: RestartPolicy?
        public var privileged: Bool?
        public var capAdd: [String]?
        public var pidMode: String?
        public var logConfig: LogConfig?

        public init(
            networkMode: String? = nil, autoRemove: Bool? = nil, binds: [String]? = nil, mounts: [Mount]? = nil,
            portBindings: [String: [ContainerInspect.PortBinding]]? = nil, restartPolicy: RestartPolicy? = nil,
            privileged: Bool? = nil, capAdd: [String]? = nil, pidMode: String? = nil, logConfig: LogConfig? = nil
        ) {
            self.logConfig = logConfig
            self.networkMode = networkMode
            self.autoRemove = autoRemove
            self.binds = binds
            self.mounts = mounts
            self.portBindings = portBindings
            self.restartPolicy = restartPolicy
            self.privileged = privileged
            self.capAdd = capAdd
            self.pidMode = pidMode
        }

        enum CodingKeys: String, CodingKey {
            case networkMode = "NetworkMode", autoRemove = "AutoRemove", binds = "Binds", mounts = "Mounts"
            case portBindings = "PortBindings", restartPolicy = "RestartPolicy", privileged = "Privileged", capAdd = "CapAdd"
            case pidMode = "PidMode", logConfig = "LogConfig"
        }
    }

    /// A mount in `HostConfig.Mounts`.
    public struct Mount: Encodable, Sendable, Equatable {
        /// `volume`, `bind` or `tmpfs`.
        public var type: String
        public var source: String?
        public var target: String
        public var readOnly: Bool?
        /// For a volume: whether the image's files at the target are *not* copied into a new, empty volume.
        public var volumeOptions: VolumeOptions?

        public struct VolumeOptions: Encodable, Sendable, Equatable {
            public var noCopy: Bool?

            public init(noCopy: Bool?) {
                self.noCopy = noCopy
            }

            enum CodingKeys: String, CodingKey { case noCopy = "NoCopy" }
        }

        public init(type: String, source: String?, target: String, readOnly: Bool? = nil, volumeOptions: VolumeOptions? = nil) {
            self.type = type
            self.source = source
            self.target = target
            self.readOnly = readOnly
            self.volumeOptions = volumeOptions
        }

        enum CodingKeys: String, CodingKey {
            case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly", volumeOptions = "VolumeOptions"
        }
    }
}

/// `HostConfig.LogConfig`: the logging driver (`json-file`, `local`, `none`, …) and its options.
public struct LogConfig: Codable, Sendable, Equatable {
    public var type: String?
    public var config: [String: String]?

    public init(type: String?, config: [String: String]? = nil) {
        self.type = type
        self.config = config
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type", config = "Config"
    }
}

/// The answer of `POST /containers/create`.
public struct ContainerCreateResponse: Decodable, Sendable {
    public var id: String
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id", warnings = "Warnings"
    }
}

/// The answer of `POST /containers/{id}/wait`.
public struct ContainerWaitResponse: Decodable, Sendable {
    public var statusCode: Int
    public var error: WaitError?

    enum CodingKeys: String, CodingKey {
        case statusCode = "StatusCode", error = "Error"
    }

    public struct WaitError: Decodable, Sendable {
        public var message: String?

        enum CodingKeys: String, CodingKey {
            case message = "Message"
        }
    }
}
