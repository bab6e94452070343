/// One message of `GET /events`.
public struct EngineEvent: Codable, Sendable, Equatable {
    public struct Actor: Codable, Sendable, Equatable {
        public var id: String?
        public var attributes: [String: String]?

        public init(id: String?, attributes: [String: String]? = nil) {
            self.id = id
            self.attributes = attributes
        }

        enum CodingKeys: String, CodingKey {
            case id = "ID"
            case attributes = "Attributes"
        }
    }

    /// `container`, `image`, `network`, `volume`, `daemon`, …
    public var type: String?
    /// `start`, `die`, `pull`, `exec_start: sh`, …
    public var action: String?
    public var actor: Actor?
    public var scope: String?
    public var time: Int64?
    public var timeNano: Int64?

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case action = "Action"
        case actor = "Actor"
        case scope
        case time
        case timeNano
    }

    public init(type: String?, action: String?, actor: Actor?, scope: String? = nil, time: Int64? = nil, timeNano: Int64? = nil) {
        self.type = type
        self.action = action
        self.actor = actor
        self.scope = scope
        self.time = time
        self.timeNano = timeNano
    }

    /// The event's time to the nanosecond, from `timeNano` or else `time`.
    public var timestamp: LogTimestamp? {
        if let timeNano { return LogTimestamp(nanosecondsSinceEpoch: timeNano) }
        if let time { return LogTimestamp(seconds: time, nanoseconds: 0) }
        return nil
    }

    /// What tells one event from another when the engine sends it again (a replay with `since`): the engine gives
    /// events no id, and their times are not in the order it sends them.
    public struct Identity: Hashable, Sendable {
        let timestamp: LogTimestamp
        let type: String?
        let action: String?
        let actor: String?
    }

    /// Nil for an event without a time, which can't be told apart from a repeat of itself.
    public var identity: Identity? {
        timestamp.map { Identity(timestamp: $0, type: type, action: action, actor: actor?.id) }
    }
}

/// One sample of `GET /containers/{id}/stats`: the fields `docker stats` shows, nothing else.
public struct ContainerStatsSample: Decodable, Sendable, Equatable {
    public struct CPU: Decodable, Sendable, Equatable {
        public struct Usage: Decodable, Sendable, Equatable {
            public var totalUsage: UInt64?
            public var percpuUsage: [UInt64]?
            enum CodingKeys: String, CodingKey {
                case totalUsage = "total_usage"
                case percpuUsage = "percpu_usage"
            }
        }
        public var cpuUsage: Usage?
        public var systemCPUUsage: UInt64?
        public var onlineCPUs: Int?
        enum CodingKeys: String, CodingKey {
            case cpuUsage = "cpu_usage"
            case systemCPUUsage = "system_cpu_usage"
            case onlineCPUs = "online_cpus"
        }
    }

    public struct Memory: Decodable, Sendable, Equatable {
        public var usage: UInt64?
        public var limit: UInt64?
        public var stats: [String: UInt64]?
    }

    public struct Network: Decodable, Sendable, Equatable {
        public var rxBytes: UInt64?
        public var txBytes: UInt64?
        enum CodingKeys: String, CodingKey {
            case rxBytes = "rx_bytes"
            case txBytes = "tx_bytes"
        }
    }

    public struct BlockIO: Decodable, Sendable, Equatable {
        public struct Entry: Decodable, Sendable, Equatable {
            public var op: String?
            public var value: UInt64?
        }
        public var ioServiceBytesRecursive: [Entry]?
        enum CodingKeys: String, CodingKey {
            case ioServiceBytesRecursive = "io_service_bytes_recursive"
        }
    }

    public var read: String?
    public var cpuStats: CPU?
    public var precpuStats: CPU?
    public var memoryStats: Memory?
    public var networks: [String: Network]?
    public var blkioStats: BlockIO?
    public var pidsStats: [String: UInt64]?

    enum CodingKeys: String, CodingKey {
        case read
        case cpuStats = "cpu_stats"
        case precpuStats = "precpu_stats"
        case memoryStats = "memory_stats"
        case networks
        case blkioStats = "blkio_stats"
        case pidsStats = "pids_stats"
    }

    /// CPU use in percent of one CPU, as `docker stats` computes it: the container's share of the host's CPU time
    /// between this sample and the previous one, times the number of CPUs. Nil before there are two samples.
    public var cpuPercent: Double? {
        guard let now = cpuStats, let before = precpuStats,
            let total = now.cpuUsage?.totalUsage, let previousTotal = before.cpuUsage?.totalUsage,
            let system = now.systemCPUUsage, let previousSystem = before.systemCPUUsage,
            system > previousSystem
        else { return nil }
        let cpus = now.onlineCPUs ?? now.cpuUsage?.percpuUsage?.count ?? 1
        let containerDelta = Double(total >= previousTotal ? total - previousTotal : 0)
        let systemDelta = Double(system - previousSystem)
        return containerDelta / systemDelta * Double(cpus) * 100
    }

    /// Memory in use as `docker stats` shows it: without the page cache that can be reclaimed.
    public var memoryUsed: UInt64? {
        guard let memory = memoryStats, let usage = memory.usage else { return nil }
        // cgroup v2 reports inactive_file, v1 total_inactive_file or cache.
        let reclaimable = memory.stats?["inactive_file"] ?? memory.stats?["total_inactive_file"] ?? memory.stats?["cache"] ?? 0
        return usage >= reclaimable ? usage - reclaimable : usage
    }

    public var memoryLimit: UInt64? { memoryStats?.limit }

    /// Received and sent bytes over all networks.
    public var networkBytes: (received: UInt64, sent: UInt64) {
        var received: UInt64 = 0
        var sent: UInt64 = 0
        for network in (networks ?? [:]).values {
            received &+= network.rxBytes ?? 0
            sent &+= network.txBytes ?? 0
        }
        return (received, sent)
    }

    /// Bytes read from and written to block devices.
    public var blockBytes: (read: UInt64, written: UInt64) {
        var read: UInt64 = 0
        var written: UInt64 = 0
        for entry in blkioStats?.ioServiceBytesRecursive ?? [] {
            switch entry.op?.lowercased() {
            case "read": read &+= entry.value ?? 0
            case "write": written &+= entry.value ?? 0
            default: break
            }
        }
        return (read, written)
    }
}
