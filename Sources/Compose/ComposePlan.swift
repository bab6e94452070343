/// The labels the compose CLI puts on what it makes, which Berth puts on what it makes too: `docker compose ps/down`
/// find Berth's projects by them, and Berth finds the CLI's.
public enum ComposeLabel {
    public static let project = "com.docker.compose.project"
    public static let service = "com.docker.compose.service"
    public static let containerNumber = "com.docker.compose.container-number"
    public static let oneoff = "com.docker.compose.oneoff"
    public static let configHash = "com.docker.compose.config-hash"
    public static let workingDir = "com.docker.compose.project.working_dir"
    public static let configFiles = "com.docker.compose.project.config_files"
    public static let network = "com.docker.compose.network"
    public static let volume = "com.docker.compose.volume"
    public static let dependsOn = "com.docker.compose.depends_on"

    /// A project name as the compose CLI accepts it: lowercase letters, digits, `-` and `_`, starting with a letter or
    /// digit.
    public static func isValidProjectName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first), name.count <= 63 else {
            return false
        }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    /// `PROJECT-SERVICE-N`, the compose CLI's (v2) name for a service's Nth container.
    public static func containerName(project: String, service: String, number: Int) -> String {
        "\(project)-\(service)-\(number)"
    }

    /// `PROJECT_KEY`, the CLI's name for a project's network or volume without a `name:` of its own.
    public static func resourceName(project: String, key: String) -> String { "\(project)_\(key)" }
}

/// A container of a project as the engine has it, read from its labels.
public struct DeployedContainer: Sendable, Equatable {
    public let id: String
    public let name: String
    public let service: String
    public let number: Int
    public let configHash: String
    public let running: Bool
    /// The image it was made from (`sha256:…`), when known.
    public let imageId: String?

    public init(id: String, name: String, service: String, number: Int, configHash: String, running: Bool, imageId: String? = nil) {
        self.id = id
        self.name = name
        self.service = service
        self.number = number
        self.configHash = configHash
        self.running = running
        self.imageId = imageId
    }

    /// A container's compose identity from its labels; nil for one-off containers (`compose run`) and others.
    public init?(id: String, name: String, labels: [String: String], running: Bool, imageId: String? = nil) {
        guard let service = labels[ComposeLabel.service], labels[ComposeLabel.oneoff]?.lowercased() != "true" else { return nil }
        self.init(
            id: id, name: name, service: service, number: Int(labels[ComposeLabel.containerNumber] ?? "") ?? 1,
            configHash: labels[ComposeLabel.configHash] ?? "", running: running, imageId: imageId
        )
    }
}

/// What a deploy does, service by service, before it does it: the page shows it, the job carries it out in this order.
public struct ComposePlan: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// No container for this number yet.
        case create
        /// Its configuration changed (`keys` says which, when the deployed version is known): made anew.
        case recreate(container: String, keys: [String])
        /// Unchanged; started if it is not running.
        case keep(container: String, start: Bool)
        /// More containers than the scale, or a service the file no longer has. (A service the file still has but
        /// its profiles switch off keeps its containers, as with the compose CLI: the plan has no step for them.)
        case remove(container: String)
    }

    public struct Step: Sendable, Equatable {
        public let service: String
        public let number: Int
        public let action: Action
        /// The container's name once the step is done (or the removed one's).
        public let containerName: String
    }

    public let steps: [Step]

    /// Whether deploying changes nothing.
    public var isEmpty: Bool {
        steps.allSatisfy { if case .keep(_, false) = $0.action { true } else { false } }
    }

    /// - Parameters:
    ///   - services: what should run, in start order (`ComposeProject.startOrder`).
    ///   - deployed: the project's containers as the engine has them.
    ///   - previous: the services as last deployed (the version the containers came from), to say which keys changed.
    ///   - allServices: every service of the file, active or not (`ComposeProject.services`' names); the containers of
    ///     one not in `services` are left alone. nil: `services` are all the file has.
    ///   - images: what each image reference names now (`sha256:…`); a container made from another image than its
    ///     service's names now (a newer pull) is recreated, as the compose CLI does.
    public init(
        project: String, services: [ComposeService], deployed: [DeployedContainer], previous: [String: ComposeService] = [:],
        allServices: Set<String>? = nil, images: [String: String] = [:]
    ) {
        var steps: [Step] = []
        var claimed: Set<String> = []
        for service in services {
            let hash = service.configHash
            let mine = deployed.filter { $0.service == service.name }.sorted { $0.number < $1.number }
            for number in 1...max(service.replicas, 1) where service.replicas > 0 {
                let name = service.containerName ?? ComposeLabel.containerName(project: project, service: service.name, number: number)
                guard let existing = mine.first(where: { $0.number == number }) else {
                    steps.append(Step(service: service.name, number: number, action: .create, containerName: name))
                    continue
                }
                claimed.insert(existing.id)
                let newerImage = images[service.image].map { current in existing.imageId.map { $0 != current } ?? false } ?? false
                if existing.configHash == hash, newerImage {
                    steps.append(Step(service: service.name, number: number, action: .recreate(container: existing.id, keys: ["image"]), containerName: name))
                } else if existing.configHash == hash {
                    steps.append(Step(service: service.name, number: number, action: .keep(container: existing.id, start: !existing.running), containerName: existing.name))
                } else {
                    let keys = previous[service.name].map { service.changedKeys(from: $0) } ?? []
                    steps.append(Step(service: service.name, number: number, action: .recreate(container: existing.id, keys: keys), containerName: name))
                }
            }
        }
        // Scaled down, or no longer in the file: removed, last. Switched off by profiles: left as they are.
        let active = Set(services.map(\.name))
        let inFile = allServices.map { $0.union(active) } ?? active
        for container in deployed.sorted(by: { ($0.service, $0.number) < ($1.service, $1.number) })
        where !claimed.contains(container.id) && (active.contains(container.service) || !inFile.contains(container.service)) {
            steps.append(Step(service: container.service, number: container.number, action: .remove(container: container.id), containerName: container.name))
        }
        self.steps = steps
    }
}
