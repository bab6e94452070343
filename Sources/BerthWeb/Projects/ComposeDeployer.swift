import Compose
import EngineAPI
import Foundation

/// Carries out a `ComposePlan` on the engine: the project's networks and volumes first, then service by service in
/// start order, waiting where `depends_on` asks for a healthy or completed service. A recreated container is renamed
/// aside, its successor made and started, and only then removed; if anything fails before that, the old one gets its
/// name back and runs again — nothing is left half-renamed. The first failure stops the plan and says which step.
struct ComposeDeployer: Sendable {
    let engine: EngineClient
    let project: ComposeProject
    let place: ComposeContainerSpec.ProjectPlace
    /// One line per step, for the job's log.
    let log: @Sendable (String) -> Void
    /// Fetches an image the engine does not have (the job's pull, with its progress).
    let pull: @Sendable (String) async throws -> Void
    var dependencyTimeout: Duration = .seconds(120)

    struct StepFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// The project's containers as the engine has them: not one-off ones, nor an old one a failed removal left aside.
    static func deployed(engine: EngineClient, project: String) async throws -> [DeployedContainer] {
        deployed(try await engine.projectContainers(project))
    }

    /// The same, from a list already read (`EngineClient.projectContainers`).
    static func deployed(_ list: [ContainerSummary]) -> [DeployedContainer] {
        list.compactMap { summary in
            let name = String((summary.names?.first ?? summary.id).drop { $0 == "/" })
            guard !ContainerReplacement.isAside(name) else { return nil }
            return DeployedContainer(
                id: summary.id, name: name, labels: summary.labels ?? [:], running: summary.state == "running", imageId: summary.imageID
            )
        }
    }

    func apply(_ plan: ComposePlan) async throws {
        let services = Dictionary(project.services.map { ($0.name, $0) }) { first, _ in first }
        let used = plan.steps.compactMap { step -> ComposeService? in
            if case .remove = step.action { return nil }
            return services[step.service]
        }
        try await ensureNetworks(for: used)
        try await ensureVolumes(for: used)
        for image in Set(used.map(\.image)).sorted() where !(await hasImage(image)) {
            log("pulling \(image)")
            try await pull(image)
        }
        // Services whose dependencies are all earlier go together, each its own task (as the compose CLI creates them
        // in parallel); a level starts once the one before it is done. The first failure cancels the rest.
        for level in Self.levels(of: plan, services: services) {
            try await together(level.map { name in plan.steps.filter { $0.service == name && !$0.action.removes } }, of: services, plan: plan)
        }
        try await together(plan.steps.filter(\.action.removes).map { [$0] }, of: [:], plan: plan)
        log("done")
    }

    /// Runs each list of steps as a task of its own; the first failure (logged as it happens) cancels the others and is
    /// what the plan ends with.
    private func together(_ lists: [[ComposePlan.Step]], of services: [String: ComposeService], plan: ComposePlan) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for steps in lists where !steps.isEmpty {
                group.addTask {
                    do {
                        try await run(steps, of: services[steps[0].service], plan: plan)
                    } catch let failure as StepFailure {
                        log(failure.description)
                        throw failure
                    }
                }
            }
            for try await _ in group {}
        }
    }

    /// One service's steps, in order, once what it depends on is as it asks.
    private func run(_ steps: [ComposePlan.Step], of service: ComposeService?, plan: ComposePlan) async throws {
        if let service, steps.contains(where: \.action.startsSomething) {
            try await waitForDependencies(of: service, plan: plan)
        }
        for step in steps {
            let what = "\(step.containerName) (\(step.service))"
            switch step.action {
            case .create:
                guard let service else { continue }
                log("creating \(what)")
                _ = try await create(service, number: step.number, failing: "creating \(what)")
            case .recreate(let old, let keys):
                guard let service else { continue }
                log("recreating \(what)" + (keys.isEmpty ? "" : ": \(keys.joined(separator: ", ")) changed"))
                try await recreate(old, as: service, number: step.number, failing: "recreating \(what)")
            case .keep(let container, let start):
                guard start else { continue }
                log("starting \(what)")
                try await attempt("starting \(what)") { try await engine.startContainer(container) }
            case .remove(let container):
                log("removing \(what)")
                try await attempt("removing \(what)") {
                    _ = try? await engine.stopContainer(container, timeout: 10)
                    try await engine.removeContainer(container, force: true)
                }
            }
        }
    }

    /// The plan's services in levels: a service comes one level after the latest of those it starts after.
    static func levels(of plan: ComposePlan, services: [String: ComposeService]) -> [[String]] {
        var names: [String] = []
        for step in plan.steps where !step.action.removes && !names.contains(step.service) { names.append(step.service) }
        var level: [String: Int] = [:]
        // The plan is in start order: what a service starts after is placed before it.
        for name in names {
            let after = (services[name]?.startsAfter ?? []).compactMap { level[$0] }
            level[name] = (after.max() ?? -1) + 1
        }
        let depth = (level.values.max() ?? -1) + 1
        return (0..<depth).map { index in names.filter { level[$0] == index } }
    }

    @discardableResult
    private func attempt<T: Sendable>(_ step: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as StepFailure {
            throw failure
        } catch {
            throw StepFailure(description: "\(step) failed: \(AuditTrail.message(for: error))")
        }
    }

    private func hasImage(_ image: String) async -> Bool {
        (try? await engine.inspectImage(image)) != nil
    }

    private func spec(_ service: ComposeService, number: Int) -> ComposeContainerSpec {
        ComposeContainerSpec(service: service, number: number, project: project, place: place)
    }

    /// Creates, joins the later networks, starts; the new container's id.
    private func create(_ service: ComposeService, number: Int, failing step: String) async throws -> String {
        let spec = spec(service, number: number)
        return try await attempt(step) {
            try await ContainerReplacement(engine: engine, log: log).make(
                .init(name: spec.name, body: try JSONEncoder().encode(spec.request), moreNetworks: try spec.laterNetworkEndpoints(), start: true)
            )
        }
    }

    /// The old container's anonymous volumes go to its successor (as the compose CLI keeps them), then it is replaced
    /// the one way containers are (`ContainerReplacement`).
    private func recreate(_ old: String, as service: ComposeService, number: Int, failing step: String) async throws {
        let inspect = try await attempt(step) { try await engine.inspectContainer(old) }
        let spec = spec(service, number: number)
        let request = spec.request.inheritingAnonymousVolumes(of: inspect)
        try await attempt(step) {
            try await ContainerReplacement(engine: engine, log: log).replace(
                old, name: inspect.displayName, wasRunning: inspect.state?.running == true,
                with: .init(name: spec.name, body: try JSONEncoder().encode(request), moreNetworks: try spec.laterNetworkEndpoints(), start: true)
            )
        }
    }

    /// Waits until what `service` depends on is as it asks: healthy, or exited with 0.
    private func waitForDependencies(of service: ComposeService, plan: ComposePlan) async throws {
        for (dependency, condition) in service.dependsOn.sorted(by: { $0.key < $1.key }) where condition != .started {
            let containers = plan.steps.filter {
                if case .remove = $0.action { return false }
                return $0.service == dependency
            }.map(\.containerName)
            for container in containers {
                log("waiting for \(container) to be \(condition == .healthy ? "healthy" : "completed successfully")")
                try await wait(for: container, condition, before: service.name)
            }
        }
    }

    private func wait(for container: String, _ condition: ComposeService.Condition, before dependent: String) async throws {
        let deadline = ContinuousClock.now + dependencyTimeout
        while true {
            let state = try await attempt("waiting for \(container)") { try await engine.inspectContainer(container).state }
            switch condition {
            case .healthy:
                if state?.health?.status == "healthy" { return }
                if state?.health == nil {
                    throw StepFailure(description: "\(dependent) waits for \(container) to be healthy, but it has no healthcheck")
                }
                if state?.running != true {
                    throw StepFailure(description: "\(container) stopped (exit code \(state?.exitCode ?? -1)) before it was healthy; \(dependent) was not started")
                }
            case .completedSuccessfully:
                if state?.running != true, state?.status == "exited" {
                    guard state?.exitCode == 0 else {
                        throw StepFailure(description: "\(container) exited with code \(state?.exitCode ?? -1); \(dependent) was not started")
                    }
                    return
                }
            case .started:
                return
            }
            guard ContinuousClock.now < deadline else {
                throw StepFailure(description: "\(container) was not \(condition == .healthy ? "healthy" : "done") within \(dependencyTimeout); \(dependent) was not started")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    private func ensureNetworks(for services: [ComposeService]) async throws {
        let keys = Set(services.filter { $0.networkMode == nil }.flatMap { $0.networks.isEmpty ? ["default"] : Array($0.networks.keys) })
        try await ensure(keys, of: project.networks, kind: "network", label: ComposeLabel.network) { name in
            (try? await engine.inspectNetwork(name)) != nil
        } create: { name, declared, labels in
            var request = NetworkCreateRequest(
                name: name, driver: declared.driver ?? "bridge", internal: declared.internal, attachable: false, labels: labels, subnet: nil
            )
            request.options = declared.driverOptions.isEmpty ? nil : declared.driverOptions
            _ = try await engine.createNetwork(request)
        }
    }

    private func ensureVolumes(for services: [ComposeService]) async throws {
        let keys = Set(services.flatMap { $0.volumes.compactMap { $0.kind == .volume ? $0.source : nil } })
        try await ensure(keys, of: project.volumes, kind: "volume", label: ComposeLabel.volume) { name in
            (try? await engine.inspectVolume(name)) != nil
        } create: { name, declared, labels in
            _ = try await engine.createVolume(VolumeCreateRequest(
                name: name, driver: declared.driver ?? "local", driverOpts: declared.driverOptions, labels: labels
            ))
        }
    }

    /// Makes each of the project's networks or volumes that the engine lacks, labelled as the compose CLI labels them;
    /// an external one must exist.
    private func ensure<Resource: ComposeResource>(
        _ keys: Set<String>, of declared: [Resource], kind: String, label: String,
        exists: (String) async -> Bool, create: (String, Resource, [String: String]) async throws -> Void
    ) async throws {
        for key in keys.sorted() {
            let resource = declared.first { $0.key == key } ?? Resource(key: key)
            let name = ComposeContainerSpec.engineName(key, of: declared, place: place)
            if await exists(name) { continue }
            guard !resource.external else { throw StepFailure(description: "the external \(kind) \(name) does not exist") }
            log("creating \(kind) \(name)")
            var labels = resource.labels
            labels[ComposeLabel.project] = place.name
            labels[label] = key
            try await attempt("creating \(kind) \(name)") { try await create(name, resource, labels) }
        }
    }
}

extension ComposePlan.Action {
    var removes: Bool {
        if case .remove = self { true } else { false }
    }

    /// Whether the step starts a container (and so must wait for what its service depends on).
    var startsSomething: Bool {
        switch self {
        case .create, .recreate: true
        case .keep(_, let start): start
        case .remove: false
        }
    }
}

extension EngineClient {
    /// Every container of a compose project (stopped and one-off ones too), by the compose CLI's project label.
    func projectContainers(_ project: String) async throws -> [ContainerSummary] {
        try await listContainers(all: true, filters: .init(label: ["\(ComposeLabel.project)=\(project)"]))
    }
}
