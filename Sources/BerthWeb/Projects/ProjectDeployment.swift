import BerthStore
import Compose
import EngineAPI
import Foundation

/// Deploying a saved version of a project: what it would do (the plan the page shows) and the job that does it. A
/// rollback is the same, for an earlier version.
struct ProjectDeployment: Sendable {
    let engine: EngineClient
    let database: AppDatabase
    let folders: ProjectFolders

    /// The label on each container Berth deploys: the version it came from, so the next plan can say which keys
    /// changed since. Not part of the configuration hash.
    static let versionLabel = "berth.project.version"

    struct Planned: Sendable {
        let project: ComposeProject
        let plan: ComposePlan
    }

    /// The plan for `version` against what runs now. Services switched off by profiles (`COMPOSE_PROFILES` in `.env`,
    /// as the compose CLI reads it) are left as they are. `scales` overrides services' replicas for this deploy (as
    /// `docker compose up --scale`; the next deploy goes back to the file's).
    func plan(_ version: ProjectVersion, scales: [String: Int] = [:]) async throws -> Planned {
        var project = try folders.read(version)
        for index in project.services.indices {
            if let replicas = scales[project.services[index].name] { project.services[index].replicas = replicas }
        }
        let containers = try await engine.projectContainers(version.project)
        let deployed = ComposeDeployer.deployed(containers)
        // Each service as the version its containers came from had it: to name the keys a recreate changes.
        var previous: [String: ComposeService] = [:]
        var versions: [Int: ComposeProject] = [:]
        for container in containers.sorted(by: { ($0.created ?? 0) > ($1.created ?? 0) }) {
            guard let labels = container.labels, let service = labels[ComposeLabel.service], previous[service] == nil,
                  let number = labels[Self.versionLabel].flatMap(Int.init) else { continue }
            if versions[number] == nil, let old = try await database.projectVersion(version.project, number: number) {
                versions[number] = try? folders.read(old)
            }
            previous[service] = versions[number]?.services.first { $0.name == service }
        }
        let active = project.active(profiles: folders.profiles(envFile: version.envFile))
        // What each image reference names now: a container of an older image is recreated (after a pull).
        var images: [String: String] = [:]
        for image in Set(active.map(\.image)) {
            if let id = try? await engine.inspectImage(image).id { images[image] = id }
        }
        let plan = ComposePlan(
            project: version.project, services: project.startOrder(of: active), deployed: deployed, previous: previous,
            allServices: Set(project.services.map(\.name)), images: images
        )
        return Planned(project: project, plan: plan)
    }

    /// The job: writes the version's files into the project's folder (what runs is what the folder holds), then
    /// carries out the plan made now — pulling missing images with the job's progress — and says what it did.
    func work(_ version: ProjectVersion, scales: [String: Int] = [:], credentials: [String: RegistryCredentials]) -> JobBoard.Work {
        { job, record in
            record.add(["version": String(version.number), "hash": version.contentHash])
            let planned = try await plan(version, scales: scales)
            try folders.write(version)
            let engine = self.engine
            let deployer = ComposeDeployer(
                engine: engine, project: planned.project, place: folders.place(version.project, version: version.number),
                log: job.log,
                pull: { image in
                    let reference = try ImageReference(parsing: image)
                    _ = try await ImagesController.pullImage(
                        reference, credentials: credentials[RegistryLogins.registry(of: reference)], engine: engine, job: job
                    )
                }
            )
            try await deployer.apply(planned.plan)
            let counts = planned.plan.counts
            if let (service, replicas) = scales.first {
                record.add(counts.results)
                return "Scaled \(service) of \(version.project) to \(replicas) (version \(version.number)): \(counts.summary)."
            }
            record.add(counts.results)
            return "Deployed \(version.project) version \(version.number): \(counts.summary)."
        }
    }
}

extension ProjectDeployment {
    /// The pull job: every image the version's services use, pulled again (saved logins answering), and which of them
    /// now name another image — a deploy then recreates the containers made from the old one.
    func pullWork(_ version: ProjectVersion, credentials: [String: RegistryCredentials]) -> JobBoard.Work {
        { job, record in
            record.add(["version": String(version.number), "hash": version.contentHash])
            let project = try folders.read(version)
            let active = project.active(profiles: folders.profiles(envFile: version.envFile))
            var newer: [String] = []
            for image in Set(active.map(\.image)).sorted() {
                try Task.checkCancellation()
                let before = try? await engine.inspectImage(image).id
                let reference = try ImageReference(parsing: image)
                job.log("Pulling \(image)…")
                _ = try await ImagesController.pullImage(
                    reference, credentials: credentials[RegistryLogins.registry(of: reference)], engine: engine, job: job
                )
                let after = try? await engine.inspectImage(image).id
                if after != before { newer.append(image) }
                record.add(["image." + image: after != before ? "newer" : "current"])
            }
            return newer.isEmpty
                ? "Pulled the images of \(version.project): all were current."
                : "Pulled the images of \(version.project): newer \(newer.joined(separator: ", ")). Deploy to use them."
        }
    }
}

extension ComposePlan {
    /// How many containers each kind of step touches.
    struct Counts: Sendable {
        var created = 0, recreated = 0, started = 0, kept = 0, removed = 0

        var summary: String {
            let parts = [(created, "created"), (recreated, "recreated"), (started, "started"), (kept, "unchanged"), (removed, "removed")]
                .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
            return parts.isEmpty ? "nothing to do" : parts.joined(separator: ", ")
        }

        var results: [String: String] {
            ["created": String(created), "recreated": String(recreated), "removed": String(removed)]
        }
    }

    var counts: Counts {
        var counts = Counts()
        for step in steps {
            switch step.action {
            case .create: counts.created += 1
            case .recreate: counts.recreated += 1
            case .keep(_, let start): if start { counts.started += 1 } else { counts.kept += 1 }
            case .remove: counts.removed += 1
            }
        }
        return counts
    }
}
