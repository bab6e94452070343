import BerthStore
import Compose
import EngineAPI
import Foundation
import Hummingbird

/// Compose projects: the ones the engine runs, whoever started them (Berth or the compose CLI), read from the compose
/// CLI's labels. Everyone who sees containers sees them; operators start, stop and restart them; admins take them
/// down (their containers and networks, and volumes when asked), as `docker compose down` does.
struct ProjectsController: Sendable {
    let engine: EngineClient
    let audit: AuditTrail
    let views: PageRenderer

    enum Action: String, CaseIterable, Sendable {
        case start, stop, restart, down

        var permission: Permission { self == .down ? .administer : .operateContainers }

        var auditAction: AuditAction {
            switch self {
            case .start: .projectStart
            case .stop: .projectStop
            case .restart: .projectRestart
            case .down: .projectDown
            }
        }
    }

    func addRoutes(to routes: Routes) {
        routes.get("/projects", .viewContainers, use: list)
        routes.get("/projects/{name}", .viewContainers, use: project)
        for action in Action.allCases {
            routes.post("/projects/{name}/\(action.rawValue)", action.permission, audit: action.auditAction) { (request, context: SignedInContext) in
                try await act(action, context: context)
            }
        }
    }

    /// Starts (oldest container first: what was made first is usually what others need), stops (newest first),
    /// restarts, or takes the project down; one audit row with the result per container.
    @Sendable func act(_ action: Action, context: SignedInContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard ComposeLabel.isValidProjectName(name) else { throw HTTPError(.notFound, message: "No such project.") }
        let removeVolumes = action == .down && context.form.isChecked("volumes")
        let engine = self.engine
        let back = action == .down ? "/projects" : "/projects/\(name)"
        return await audit.perform(
            context: context, targetType: "project", targetName: name,
            parameters: removeVolumes ? ["volumes": "remove"] : nil, back: back
        ) { () async throws -> AuditTrail.ActionDone in
            // Not the one-off containers of `compose run`, as the compose CLI leaves them out too (down removes them).
            let containers = try await engine.projectContainers(name)
                .filter { action == .down || $0.labels?[ComposeLabel.oneoff]?.lowercased() != "true" }
                .sorted { ($0.created ?? 0) < ($1.created ?? 0) }
            guard !containers.isEmpty || action == .down else { throw AuditTrail.ActionFailure("No project \(name) on this engine.") }
            var results: [String: String] = [:]
            var failed: [String] = []
            let ordered = action == .start ? containers : containers.reversed()
            for container in ordered {
                let label = ContainerRow(container).name
                do {
                    switch action {
                    case .start: if container.state != "running" { try await engine.startContainer(container.id) }
                    case .stop: if container.state == "running" { try await engine.stopContainer(container.id) }
                    case .restart: try await engine.restartContainer(container.id)
                    case .down: try await engine.removeContainer(container.id, force: true, removeVolumes: removeVolumes)
                    }
                    results["container." + label] = "ok"
                } catch {
                    results["container." + label] = AuditTrail.message(for: error)
                    failed.append(label)
                }
            }
            if action == .down, failed.isEmpty {
                // Each one tried, whatever the others do (a network another project's proxy still uses stays).
                for network in try await engine.listNetworks() where network.labels?[ComposeLabel.project] == name {
                    let label = network.name ?? network.id
                    do {
                        try await engine.removeNetwork(network.id)
                        results["network." + label] = "removed"
                    } catch {
                        results["network." + label] = AuditTrail.message(for: error)
                        failed.append("network " + label)
                    }
                }
                if removeVolumes {
                    for volume in try await engine.listVolumes() where volume.labels?[ComposeLabel.project] == name {
                        do {
                            try await engine.removeVolume(volume.name)
                            results["volume." + volume.name] = "removed"
                        } catch {
                            results["volume." + volume.name] = AuditTrail.message(for: error)
                            failed.append("volume " + volume.name)
                        }
                    }
                }
            }
            guard failed.isEmpty else {
                let reasons = results.filter { $0.value != "ok" && $0.value != "removed" }.sorted { $0.key < $1.key }
                throw AuditTrail.ActionFailure(
                    "Could not \(action.rawValue) all of \(name): " + reasons.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                )
            }
            let verb = ["start": "Started", "stop": "Stopped", "restart": "Restarted", "down": "Took down"][action.rawValue] ?? action.rawValue
            return AuditTrail.ActionDone(message: "\(verb) \(name) (\(containers.count) container\(containers.count == 1 ? "" : "s")).", results: results)
        }
    }

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        do {
            let containers = try await engine.listContainers(all: true, filters: .init(label: [ComposeLabel.project]))
            return try views.page("projects", ProjectListPage(containers: containers), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no container list.")
        }
    }

    @Sendable func project(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard ComposeLabel.isValidProjectName(name) else { throw HTTPError(.notFound, message: "No such project.") }
        do {
            let containers = try await engine.projectContainers(name)
            guard !containers.isEmpty else { throw HTTPError(.notFound, message: "No project \(name) on this engine.") }
            return try views.page("project", ProjectPage(name: name, containers: containers), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no container list.")
        }
    }
}
