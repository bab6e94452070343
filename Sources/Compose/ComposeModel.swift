import Crypto
import Foundation

/// Something wrong in a compose file, with the line it is on (1-based) when there is one.
public struct ComposeIssue: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let line: Int?

    public init(_ message: String, line: Int?) {
        self.message = message
        self.line = line
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

/// Every problem a file has, not only the first: an editor shows them all.
public struct ComposeErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public let issues: [ComposeIssue]

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// A compose project as Berth runs it: its services (in the file's order), volumes and networks.
public struct ComposeProject: Sendable, Equatable {
    /// The file's `name:`, if it has one.
    public var name: String?
    public var services: [ComposeService]
    public var volumes: [ComposeVolume]
    public var networks: [ComposeNetwork]
    /// Not errors, but worth saying: `version:` is obsolete, a variable is not set.
    public var warnings: [ComposeIssue]

    public func service(_ name: String) -> ComposeService? { services.first { $0.name == name } }

    /// The services that run with these profiles enabled: those without profiles, and those with one of them.
    public func active(profiles: Set<String>) -> [ComposeService] {
        services.filter { $0.profiles.isEmpty || !profiles.isDisjoint(with: $0.profiles) }
    }

    /// Services in an order that starts each after what it depends on (the file's order otherwise).
    public func startOrder(of selected: [ComposeService]) -> [ComposeService] {
        var ordered: [ComposeService] = []
        var placed: Set<String> = []
        func place(_ service: ComposeService) {
            guard !placed.contains(service.name) else { return }
            placed.insert(service.name)
            for dependency in service.dependsOn.keys.sorted() {
                if let other = selected.first(where: { $0.name == dependency }) { place(other) }
            }
            ordered.append(service)
        }
        selected.forEach(place)
        return ordered
    }
}

public struct ComposeService: Sendable, Equatable, Codable {
    public enum Condition: String, Sendable, Codable {
        case started = "service_started"
        case healthy = "service_healthy"
        case completedSuccessfully = "service_completed_successfully"
    }

    public struct Port: Sendable, Equatable, Codable {
        public var hostIP: String?
        public var hostPort: Int?
        public var containerPort: Int
        public var proto: String

        public init(hostIP: String?, hostPort: Int?, containerPort: Int, proto: String) {
            self.hostIP = hostIP
            self.hostPort = hostPort
            self.containerPort = containerPort
            self.proto = proto
        }
    }

    public struct Mount: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable { case volume, bind, tmpfs }
        public var kind: Kind
        /// A volume's name (nil: anonymous), a bind mount's absolute host path.
        public var source: String?
        public var target: String
        public var readOnly: Bool

        public init(kind: Kind, source: String?, target: String, readOnly: Bool) {
            self.kind = kind
            self.source = source
            self.target = target
            self.readOnly = readOnly
        }
    }

    public struct Healthcheck: Sendable, Equatable, Codable {
        /// `["CMD", …]`, `["CMD-SHELL", "…"]`, or `["NONE"]`.
        public var test: [String]
        /// Nanoseconds, as the Engine API wants them.
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
    }

    public var name: String
    public var image: String
    public var command: [String]?
    public var entrypoint: [String]?
    public var environment: [String: String] = [:]
    public var ports: [Port] = []
    public var volumes: [Mount] = []
    /// Network name → aliases.
    public var networks: [String: [String]] = [:]
    public var dependsOn: [String: Condition] = [:]
    /// `no`, `always`, `unless-stopped`, `on-failure` (with `restartRetries`).
    public var restart: String?
    public var restartRetries: Int?
    public var labels: [String: String] = [:]
    public var healthcheck: Healthcheck?
    public var user: String?
    public var workingDir: String?
    public var networkMode: String?
    public var tty = false
    public var stdinOpen = false
    public var capAdd: [String] = []
    public var privileged = false
    public var containerName: String?
    public var hostname: String?
    /// `deploy.replicas`: how many containers (the scale). Not part of the configuration hash.
    public var replicas = 1
    public var profiles: [String] = []
    /// Where each key of the service is in the file, for messages about it.
    public var lines: [String: Int] = [:]

    public init(name: String, image: String) {
        self.name = name
        self.image = image
    }

    /// What makes a container of this service what it is, as canonical JSON: what the scale, the profiles and the
    /// lines are not part of.
    var configuration: [String: Data] {
        var copy = self
        copy.replicas = 1
        copy.profiles = []
        copy.lines = [:]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let whole = try? encoder.encode(copy),
              let object = try? JSONSerialization.jsonObject(with: whole) as? [String: Any] else { return [:] }
        var keys: [String: Data] = [:]
        for (key, value) in object where !["replicas", "profiles", "lines"].contains(key) {
            keys[key] = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        }
        return keys
    }

    /// The `com.docker.compose.config-hash` of its containers: SHA-256 of the configuration. A change of it means the
    /// containers must be made anew.
    public var configHash: String {
        var hasher = SHA256()
        for (key, value) in configuration.sorted(by: { $0.key < $1.key }) {
            hasher.update(data: Data(key.utf8))
            hasher.update(data: Data([0]))
            hasher.update(data: value)
            hasher.update(data: Data([0]))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The keys whose values differ from `other`'s, by their compose names (`environment`, `image`, …).
    public func changedKeys(from other: ComposeService) -> [String] {
        let mine = configuration
        let theirs = other.configuration
        return Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }.map { Self.composeKey[$0] ?? $0 }.sorted()
    }

    static let composeKey = [
        "dependsOn": "depends_on", "restartRetries": "restart", "workingDir": "working_dir", "networkMode": "network_mode",
        "stdinOpen": "stdin_open", "capAdd": "cap_add", "containerName": "container_name",
    ]

    /// What only an admin may deploy, each with its line: bind mounts, added capabilities, privileged mode, the host's
    /// network or another container's namespaces.
    public var adminOnly: [ComposeIssue] {
        var found: [ComposeIssue] = []
        for mount in volumes where mount.kind == .bind {
            found.append(ComposeIssue("\(name): the bind mount of \(mount.source ?? "?") (admins only)", line: lines["volumes"]))
        }
        if !capAdd.isEmpty { found.append(ComposeIssue("\(name): cap_add (admins only)", line: lines["cap_add"])) }
        if privileged { found.append(ComposeIssue("\(name): privileged (admins only)", line: lines["privileged"])) }
        if let mode = networkMode, mode == "host" || mode.hasPrefix("container:") {
            found.append(ComposeIssue("\(name): network_mode \(mode) (admins only)", line: lines["network_mode"]))
        }
        return found
    }
}

public struct ComposeVolume: Sendable, Equatable, Codable {
    public var key: String
    /// The engine's name for it: `name:` if given, else `PROJECT_KEY` (as the compose CLI names it).
    public var name: String?
    public var driver: String?
    public var driverOptions: [String: String] = [:]
    public var labels: [String: String] = [:]
    public var external = false

    public init(key: String) {
        self.key = key
    }
}

public struct ComposeNetwork: Sendable, Equatable, Codable {
    public var key: String
    public var name: String?
    public var driver: String?
    public var driverOptions: [String: String] = [:]
    public var labels: [String: String] = [:]
    public var external = false
    public var `internal` = false

    public init(key: String) {
        self.key = key
    }
}
