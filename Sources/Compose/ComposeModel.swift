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

    public init(issues: [ComposeIssue]) {
        self.issues = issues
    }

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
            for dependency in service.startsAfter {
                if let other = selected.first(where: { $0.name == dependency }) { place(other) }
            }
            ordered.append(service)
        }
        selected.forEach(place)
        return ordered
    }

    /// Everything in the file only an admin may deploy, each with its line: what each service asks for
    /// (`ComposeService.adminOnly`), and volumes and networks that reach beyond the project — driver options (the local
    /// driver's `o: bind` and `device:` mount any host path), a driver other than the engine's default, an external one.
    /// All declared ones count, used by an active service or not: a profile is one click away.
    public var adminOnly: [ComposeIssue] {
        var found = services.flatMap(\.adminOnly)
        for volume in volumes {
            found += Self.adminOnly("volume", volume.key, driver: volume.driver, default: "local", options: volume.driverOptions,
                                    external: volume.external, lines: volume.lines)
        }
        for network in networks {
            found += Self.adminOnly("network", network.key, driver: network.driver, default: "bridge", options: network.driverOptions,
                                    external: network.external, lines: network.lines)
        }
        return found
    }

    private static func adminOnly(
        _ kind: String, _ key: String, driver: String?, default standard: String, options: [String: String], external: Bool, lines: [String: Int]
    ) -> [ComposeIssue] {
        var found: [ComposeIssue] = []
        if let driver, driver != standard {
            found.append(ComposeIssue("the \(kind) \(key): driver \(driver) (admins only)", line: lines["driver"]))
        }
        if !options.isEmpty {
            found.append(ComposeIssue("the \(kind) \(key): driver_opts (admins only)", line: lines["driver_opts"]))
        }
        if external {
            found.append(ComposeIssue("the \(kind) \(key): external (admins only)", line: lines["external"]))
        }
        return found
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
        /// `nocopy` (short syntax) or `volume.nocopy` (long): the engine does not fill a new volume from the image's
        /// files at the target. Volumes only.
        public var noCopy = false

        public init(kind: Kind, source: String?, target: String, readOnly: Bool, noCopy: Bool = false) {
            self.kind = kind
            self.source = source
            self.target = target
            self.readOnly = readOnly
            self.noCopy = noCopy
        }

        private enum CodingKeys: String, CodingKey { case kind, source, target, readOnly, noCopy }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            kind = try container.decode(Kind.self, forKey: .kind)
            source = try container.decodeIfPresent(String.self, forKey: .source)
            target = try container.decode(String.self, forKey: .target)
            readOnly = try container.decode(Bool.self, forKey: .readOnly)
            noCopy = try container.decodeIfPresent(Bool.self, forKey: .noCopy) ?? false
        }

        /// `noCopy` only when set: the configuration hash of a service that does not use it stays what it was before
        /// the key existed, so its containers are not recreated for nothing.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(kind, forKey: .kind)
            try container.encodeIfPresent(source, forKey: .source)
            try container.encode(target, forKey: .target)
            try container.encode(readOnly, forKey: .readOnly)
            if noCopy { try container.encode(noCopy, forKey: .noCopy) }
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

    /// The services that must start before this one, sorted: its `depends_on`, and the service whose network it
    /// shares (`network_mode: service:x`, which the engine can only join once x's container exists). The latter is
    /// not in `dependsOn`: that is part of the configuration hash, and the file did not say it.
    public var startsAfter: [String] {
        var names = Set(dependsOn.keys)
        if let shared = networkService { names.insert(shared) }
        return names.sorted()
    }

    /// `x` of `network_mode: service:x`.
    public var networkService: String? {
        guard let mode = networkMode, mode.hasPrefix("service:") else { return nil }
        return String(mode.dropFirst("service:".count))
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
    /// network or another container's namespaces (another service's of the project is fine: `service:x`).
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

/// What a top-level volume and network both have (one reading of their common keys).
public protocol ComposeResource {
    init(key: String)
    var key: String { get }
    var name: String? { get set }
    var driver: String? { get set }
    var driverOptions: [String: String] { get set }
    var labels: [String: String] { get set }
    var external: Bool { get set }
    var lines: [String: Int] { get set }
}

public struct ComposeVolume: ComposeResource, Sendable, Equatable, Codable {
    public var key: String
    /// The engine's name for it: `name:` if given, else `PROJECT_KEY` (as the compose CLI names it).
    public var name: String?
    public var driver: String?
    public var driverOptions: [String: String] = [:]
    public var labels: [String: String] = [:]
    public var external = false
    /// Where each of its keys is in the file, for messages (not encoded: not part of what it is).
    public var lines: [String: Int] = [:]

    public init(key: String) {
        self.key = key
    }

    private enum CodingKeys: String, CodingKey { case key, name, driver, driverOptions, labels, external }
}

public struct ComposeNetwork: ComposeResource, Sendable, Equatable, Codable {
    public var key: String
    public var name: String?
    public var driver: String?
    public var driverOptions: [String: String] = [:]
    public var labels: [String: String] = [:]
    public var external = false
    public var `internal` = false
    /// Where each of its keys is in the file, for messages (not encoded: not part of what it is).
    public var lines: [String: Int] = [:]

    public init(key: String) {
        self.key = key
    }

    private enum CodingKeys: String, CodingKey { case key, name, driver, driverOptions, labels, external, `internal` }
}
