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
    let database: AppDatabase
    let deployment: ProjectDeployment
    let jobs: JobBoard
    let logins: RegistryLogins
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
        // Projects are `local`\'s (its roles, its rows).
        let routes = routes.on(.local)
        routes.get("/projects", .viewContainers, use: list)
        routes.get("/projects/{name}", .viewContainers, use: project)
        routes.get("/projects/{name}/plan", .operateContainers, use: plan)
        routes.post("/projects/{name}/deploy", .operateContainers, audit: .projectDeploy, use: deploy)
        routes.post("/projects/{name}/scale", .operateContainers, audit: .projectScale, use: scale)
        routes.post("/projects/{name}/pull", .operateContainers, audit: .projectPull, use: pull)
        for action in Action.allCases {
            routes.post("/projects/{name}/\(action.rawValue)", action.permission, audit: action.auditAction) { (request, context: SignedInContext) in
                try await act(action, context: context)
            }
        }
    }

    /// Starts (oldest container first: what was made first is usually what others need), stops (newest first),
    /// restarts, or takes the project down; one audit row with the result per container.
    @Sendable func act(_ action: Action, context: SignedInContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard ComposeLabel.isValidProjectName(name) else { return await refuse(context, name: name, "No such project.") }
        let database = self.database
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
            // Berth's project: the version its containers run, as every project row names it.
            if let running = containers.compactMap({ $0.labels?[ProjectDeployment.versionLabel].flatMap(Int.init) }).max(),
               let version = try? await database.projectVersion(name, number: running) {
                results["version"] = String(version.number)
                results["hash"] = version.contentHash
            }
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
                let reasons = results.filter { $0.key != "version" && $0.key != "hash" && $0.value != "ok" && $0.value != "removed" }
                    .sorted { $0.key < $1.key }
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
            let saved = try await database.latestProjectVersions()
            return try views.page("projects", ProjectListPage(containers: containers, saved: saved), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no container list.")
        }
    }

    @Sendable func project(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard ComposeLabel.isValidProjectName(name) else { throw HTTPError(.notFound, message: "No such project.") }
        do {
            let containers = try await engine.projectContainers(name)
            let versions = try await database.projectVersionSummaries(name)
            guard !containers.isEmpty || !versions.isEmpty else { throw HTTPError(.notFound, message: "No project \(name) on this engine.") }
            let latest = versions.isEmpty ? nil : try await database.latestProjectVersion(name)
            let services = latest.flatMap { try? deployment.folders.read($0).services.map(\.name) } ?? []
            return try views.page(
                "project", ProjectPage(name: name, containers: containers, versions: versions, services: services), context: context
            )
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no container list.")
        }
    }

    // MARK: Deploying a version

    /// `/projects/{name}/plan?version=N` (the latest by default): what deploying it would do, service by service.
    @Sendable func plan(_ request: Request, context: SignedInContext) async throws -> Response {
        let (name, version, latest) = try await savedVersion(request.uri.queryParameters.get("version"), context: context)
        do {
            let planned = try await deployment.plan(version)
            return try views.page(
                "project-plan", ProjectPlanPage(version: version, planned: planned, latest: latest, isAdmin: context.isAdmin), context: context
            )
        } catch let errors as ComposeErrors {
            throw HTTPError(.unprocessableContent, message: "Version \(version.number) of \(name) can't be deployed: \(errors.description)")
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no container list.")
        }
    }

    /// `POST /projects/{name}/deploy` (version, hash): the version the plan showed, deployed as a job. Operators deploy
    /// saved versions; one that needs admin-only settings (bind mounts, privileges, the host's network, …) only an
    /// admin. Saved registry logins answer for images the engine lacks, each use audited.
    @Sendable func deploy(_ request: Request, context: SignedInContext) async throws -> Response {
        let name: String, version: ProjectVersion
        do {
            (name, version, _) = try await savedVersion(context.form["version"], context: context)
        } catch let error as HTTPError {
            return await refuse(context, name: context.parameters.get("name") ?? "", error.body ?? "No such project.")
        }
        let back = "/projects/\(name)/plan?version=\(version.number)"
        let parameters = ["version": String(version.number), "hash": version.contentHash]
        guard context.form["hash"] == nil || context.form["hash"] == version.contentHash else {
            return await audit.refuseInput(
                context: context, targetType: "project", targetName: name, parameters: parameters,
                message: "The plan you saw was for other files; look at the plan again.", back: back
            )
        }
        return await startJob(.projectDeploy, version: version, title: "Deploy \(name) version \(version.number)", context: context, back: back) {
            deployment.work(version, credentials: $0)
        }
    }

    /// `POST /projects/{name}/scale` (service, replicas): the version the project runs (its latest if nothing runs)
    /// deployed again with that service's scale set, as `docker compose up --scale` does; the next deploy goes back to
    /// the file's scale.
    @Sendable func scale(_ request: Request, context: SignedInContext) async throws -> Response {
        let name: String, version: ProjectVersion
        do {
            (name, version) = try await runningVersion(context: context)
        } catch let error as HTTPError {
            return await refuse(context, name: context.parameters.get("name") ?? "", error.body ?? "No such project.")
        }
        let back = "/projects/\(name)"
        let service = context.form["service"] ?? ""
        let replicas = Int((context.form["replicas"] ?? "").trimmingCharacters(in: .whitespaces))
        var parameters = ["version": String(version.number), "hash": version.contentHash, "service": service]
        parameters["replicas"] = replicas.map(String.init) ?? context.form["replicas"]
        let declared = (try? deployment.folders.read(version))?.services.first { $0.name == service }
        let problem: String? = if declared == nil {
            "\(name) has no service \(service)."
        } else if replicas == nil || !(0...100).contains(replicas ?? -1) {
            "A scale is a number from 0 to 100."
        } else if let fixed = declared?.containerName, (replicas ?? 0) > 1 {
            "\(service) has a container_name (\(fixed)): one container at most."
        } else {
            nil
        }
        guard problem == nil, let replicas else {
            return await audit.refuseInput(
                context: context, targetType: "project", targetName: name, parameters: parameters, message: problem ?? "", back: back
            )
        }
        return await startJob(
            .projectScale, version: version, title: "Scale \(service) of \(name) to \(replicas)", context: context, back: back,
            extra: ["service": service, "replicas": String(replicas)]
        ) { deployment.work(version, scales: [service: replicas], credentials: $0) }
    }

    /// `POST /projects/{name}/pull`: the images of the version the project runs pulled again, as a job; the next
    /// deploy (its plan says so) recreates the containers of images that changed.
    @Sendable func pull(_ request: Request, context: SignedInContext) async throws -> Response {
        let name: String, version: ProjectVersion
        do {
            (name, version) = try await runningVersion(context: context)
        } catch let error as HTTPError {
            return await refuse(context, name: context.parameters.get("name") ?? "", error.body ?? "No such project.")
        }
        return await startJob(
            .projectPull, version: version, title: "Pull the images of \(name)", context: context, back: "/projects/\(name)", everyImage: true
        ) { deployment.pullWork(version, credentials: $0) }
    }

    /// Starts a job on a version: refused (a denied row) when the version has admin-only settings and the user is no
    /// admin — except a pull, which changes no container; saved logins opened (each use audited) for the images the
    /// job pulls (those the engine lacks, or `everyImage`).
    private func startJob(
        _ kind: JobKind, version: ProjectVersion, title: String, context: SignedInContext, back: String, extra: [String: String] = [:],
        everyImage: Bool = false, work: ([String: RegistryCredentials]) -> JobBoard.Work
    ) async -> Response {
        let name = version.project
        let parameters = ["version": String(version.number), "hash": version.contentHash].merging(extra) { $1 }
        let project: ComposeProject
        do {
            project = try deployment.folders.read(version)
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "project", targetName: name, parameters: parameters,
                message: "Version \(version.number) can't be used: \(error.description)", back: "/projects/\(name)"
            )
        }
        let adminOnly = project.adminOnly
        guard kind == .projectPull || context.isAdmin || adminOnly.isEmpty else {
            let needs = adminOnly.map(\.description).joined(separator: "; ")
            _ = try? await audit.act(context: context, targetType: "project", targetName: name, parameters: parameters) { record in
                record.deny("needs an admin: " + needs)
            }
            return .redirect(to: back, flash: Flash(.error, "Only an admin may deploy version \(version.number): it has \(needs)."))
        }
        var credentials: [String: RegistryCredentials] = [:]
        do {
            for image in Set(project.services.map(\.image)).sorted() {
                if !everyImage, (try? await engine.inspectImage(image)) != nil { continue }
                guard let reference = try? ImageReference(parsing: image) else { continue }
                let registry = RegistryLogins.registry(of: reference)
                guard credentials[registry] == nil,
                      let saved = try await logins.use(for: registry, by: context.user.username, audit: audit, context: context, reference: image)
                else { continue }
                credentials[registry] = saved.credentials
            }
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "project", targetName: name, parameters: parameters, message: error.message, back: back
            )
        }
        // One job at a time changes a project: two deploys would make the same containers.
        let started = await jobs.start(
            kind, title: title, context: context, owner: context.user.username, targetType: "project", targetName: name,
            parameters: parameters, exclusive: "project:" + name, work: work(credentials)
        )
        guard case .busy = started else { return started.answer(back: back) }
        return await audit.refuseInput(
            context: context, targetType: "project", targetName: name, parameters: parameters,
            message: "A deploy, scale or pull of \(name) is under way: wait for it to end (Jobs).", back: back
        )
    }

    /// The version the project's containers run (the newest container's), else its latest.
    private func runningVersion(context: SignedInContext) async throws -> (String, ProjectVersion) {
        let name = try context.parameters.require("name")
        let containers = (try? await engine.projectContainers(name)) ?? []
        let running = containers.sorted { ($0.created ?? 0) > ($1.created ?? 0) }
            .compactMap { $0.labels?[ProjectDeployment.versionLabel] }.first
        let (_, version, _) = try await savedVersion(running, context: context)
        return (name, version)
    }

    /// A request that names no project or version it could act on: refused, on record.
    private func refuse(_ context: SignedInContext, name: String, _ message: String) async -> Response {
        await audit.refuseInput(
            context: context, targetType: "project", targetName: String(name.prefix(100)), message: message,
            back: ComposeLabel.isValidProjectName(name) ? "/projects/\(name)" : "/projects"
        )
    }

    /// The project's version `number` (its latest when nil), and the latest's number.
    private func savedVersion(_ number: String?, context: SignedInContext) async throws -> (String, ProjectVersion, Int) {
        let name = try context.parameters.require("name")
        guard ComposeLabel.isValidProjectName(name) else { throw HTTPError(.notFound, message: "No such project.") }
        guard let latest = try await database.latestProjectVersion(name) else {
            throw HTTPError(.notFound, message: "\(name) has no saved version: Berth deploys only its own projects (import one first).")
        }
        let wanted = number.map { Int($0) } ?? latest.number
        guard let wanted, let version = wanted == latest.number ? latest : try await database.projectVersion(name, number: wanted) else {
            throw HTTPError(.notFound, message: "\(name) has no version \(number ?? "").")
        }
        return (name, version, latest.number)
    }
}
