import Compose
import EngineAPI
import Foundation

/// A compose service's Nth container as the Engine API creates it: the service's settings, the compose CLI's labels and
/// name, its networks and volumes under their engine names. Networks past the first are joined after creation (an
/// engine before API 1.44 takes one network in a create request).
struct ComposeContainerSpec: Sendable {
    let name: String
    let request: ContainerCreateRequest
    /// Networks to connect once it exists: engine name → aliases.
    let laterNetworks: [(network: String, aliases: [String])]

    /// Where the project is: its folder and file, as the compose CLI's labels say.
    struct ProjectPlace: Sendable {
        let name: String
        let directory: String
        let file: String
        /// The saved version deployed, when Berth deploys one (`ProjectDeployment.versionLabel`).
        var version: Int? = nil
    }

    init(service: ComposeService, number: Int, project: ComposeProject, place: ProjectPlace) {
        name = service.containerName ?? ComposeLabel.containerName(project: place.name, service: service.name, number: number)
        var labels = service.labels
        labels[ComposeLabel.project] = place.name
        labels[ComposeLabel.service] = service.name
        labels[ComposeLabel.containerNumber] = String(number)
        labels[ComposeLabel.oneoff] = "False"
        labels[ComposeLabel.configHash] = service.configHash
        labels[ComposeLabel.workingDir] = place.directory
        labels[ComposeLabel.configFiles] = place.file
        if let version = place.version { labels[ProjectDeployment.versionLabel] = String(version) }
        if !service.dependsOn.isEmpty {
            labels[ComposeLabel.dependsOn] = service.dependsOn.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.rawValue):false" }
                .joined(separator: ",")
        }

        var request = ContainerCreateRequest(
            image: service.image, cmd: service.command, entrypoint: service.entrypoint,
            env: service.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            labels: labels, workingDir: service.workingDir, user: service.user, tty: service.tty
        )
        request.hostname = service.hostname
        request.openStdin = service.stdinOpen ? true : nil
        request.healthcheck = service.healthcheck.map {
            .init(test: $0.test, interval: $0.interval, timeout: $0.timeout, startPeriod: $0.startPeriod, retries: $0.retries)
        }
        if !service.ports.isEmpty {
            request.exposedPorts = Dictionary(service.ports.map { ("\($0.containerPort)/\($0.proto)", .init()) }) { first, _ in first }
        }
        var host = ContainerCreateRequest.HostConfig(
            mounts: service.volumes.map { mount in
                let source: String? = switch mount.kind {
                case .volume: mount.source.map { Self.volumeName($0, project: project, place: place) }
                case .bind: mount.source
                case .tmpfs: nil
                }
                return .init(
                    type: mount.kind.rawValue, source: source, target: mount.target, readOnly: mount.readOnly ? true : nil,
                    volumeOptions: mount.kind == .volume && mount.noCopy ? .init(noCopy: true) : nil
                )
            },
            restartPolicy: service.restart.map { RestartPolicy(name: $0, maximumRetryCount: $0 == "on-failure" ? service.restartRetries : nil) },
            privileged: service.privileged ? true : nil,
            capAdd: service.capAdd.isEmpty ? nil : service.capAdd
        )
        if !service.ports.isEmpty {
            var bindings: [String: [ContainerInspect.PortBinding]] = [:]
            for port in service.ports {
                bindings["\(port.containerPort)/\(port.proto)", default: []].append(
                    .init(hostIP: port.hostIP, hostPort: port.hostPort.map(String.init) ?? "")
                )
            }
            host.portBindings = bindings
        }
        // The service's networks (or the project's default one), each with the service's name as an alias.
        var later: [(network: String, aliases: [String])] = []
        if let mode = service.networkMode {
            if mode.hasPrefix("service:") {
                // The other service's first container, by the name it is given (its container_name when it has one).
                let other = String(mode.dropFirst("service:".count))
                host.networkMode = "container:" + (project.services.first { $0.name == other }?.containerName
                    ?? ComposeLabel.containerName(project: place.name, service: other, number: 1))
            } else {
                host.networkMode = mode
            }
        } else {
            let joined = service.networks.isEmpty ? ["default": [String]()] : service.networks
            let endpoints = joined.sorted { $0.key < $1.key }.map { key, aliases in
                (network: Self.networkName(key, project: project, place: place), aliases: [service.name] + aliases)
            }
            if let first = endpoints.first {
                host.networkMode = first.network
                request.networkingConfig = .init(endpointsConfig: [first.network: .init(aliases: first.aliases)])
                later = Array(endpoints.dropFirst())
            }
        }
        request.hostConfig = host
        self.request = request
        laterNetworks = later
    }

    /// The networks joined after creation, each with its `EndpointConfig` JSON.
    func laterNetworkEndpoints() throws -> [(name: String, endpoint: Data)] {
        try laterNetworks.map { later in
            (name: later.network, endpoint: try JSONEncoder().encode(ContainerCreateRequest.NetworkingConfig.Endpoint(aliases: later.aliases)))
        }
    }

    /// `name:` when given, the key itself for an external one, else `PROJECT_KEY`.
    static func engineName<Resource: ComposeResource>(_ key: String, of declared: [Resource], place: ProjectPlace) -> String {
        let resource = declared.first { $0.key == key }
        return resource?.name ?? (resource?.external == true ? key : ComposeLabel.resourceName(project: place.name, key: key))
    }

    static func networkName(_ key: String, project: ComposeProject, place: ProjectPlace) -> String {
        engineName(key, of: project.networks, place: place)
    }

    static func volumeName(_ key: String, project: ComposeProject, place: ProjectPlace) -> String {
        engineName(key, of: project.volumes, place: place)
    }
}

extension ContainerCreateRequest {
    /// This request with the anonymous volumes of the container it replaces: a volume mount without a source takes
    /// the old one's volume at that target, and the old one's other anonymous volumes (an image's `VOLUME`s) are
    /// mounted where they were — their data stays, as with the compose CLI.
    func inheritingAnonymousVolumes(of old: ContainerInspect) -> ContainerCreateRequest {
        let anonymous = (old.mounts ?? []).filter { mount in
            mount.type == "volume" && (mount.name.map(Self.isAnonymousVolumeName) ?? false) && mount.destination != nil
        }
        guard !anonymous.isEmpty else { return self }
        var copy = self
        var host = copy.hostConfig ?? HostConfig()
        var mounts = host.mounts ?? []
        for index in mounts.indices where mounts[index].type == "volume" && mounts[index].source == nil {
            mounts[index].source = anonymous.first { $0.destination == mounts[index].target }?.name
        }
        let covered = Set(mounts.map(\.target)).union((host.binds ?? []).compactMap { $0.split(separator: ":").dropFirst().first.map(String.init) })
        for mount in anonymous where !covered.contains(mount.destination ?? "") {
            mounts.append(.init(type: "volume", source: mount.name, target: mount.destination ?? "", readOnly: mount.readWrite == false ? true : nil))
        }
        host.mounts = mounts
        copy.hostConfig = host
        return copy
    }

    /// The engine names an anonymous volume with 64 hex digits.
    static func isAnonymousVolumeName(_ name: String) -> Bool {
        name.count == 64 && name.allSatisfy(\.isHexDigit)
    }
}
