import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// The engine as a whole: info and versions, disk usage, and prune with a preview (admins).
struct SystemController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer

    /// What a prune may remove, each one its own engine call.
    enum PruneTarget: String, CaseIterable, Sendable {
        case containers, images, networks, buildCache = "build-cache"
    }

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/system", .viewContainers, use: show)
        routes.post("/system/prune", .administer, audit: .systemPrune, use: prune)
    }

    /// `GET /system`: info, versions (the server's and the one negotiated), disk usage, and what a prune would remove.
    @Sendable func show(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        do {
            async let info = engine.info()
            async let version = engine.version()
            async let negotiated = engine.apiVersion()
            async let usage = engine.diskUsage()
            async let containers = engine.listContainers(all: true)
            async let networks = engine.listNetworks()
            let page = SystemPage(
                info: try await info, version: try await version, negotiated: try await negotiated.description,
                usage: try await usage, containers: try await containers, networks: try await networks
            )
            return try views.page("system", page, context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine did not describe itself.")
        }
    }

    /// `POST /system/prune` with the ticked kinds: stopped containers, dangling images, unused networks, build cache.
    @Sendable func prune(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let form = context.form
        let chosen = PruneTarget.allCases.filter { form.isChecked($0.rawValue) }
        guard !chosen.isEmpty else {
            return .redirect(to: context.link("/system"), flash: Flash(.error, "Tick what to prune: nothing was chosen."))
        }
        return await audit.perform(
            context: context, targetType: "engine", parameters: ["kinds": chosen.map(\.rawValue).joined(separator: ",")],
            back: context.link("/system")
        ) {
            var parts: [String] = []
            var space: Int64 = 0
            for target in chosen {
                switch target {
                case .containers:
                    let result = try await engine.pruneContainers()
                    parts.append("\((result.containersDeleted ?? []).count) container(s)")
                    space += result.spaceReclaimed ?? 0
                case .images:
                    let result = try await engine.pruneDanglingImages()
                    parts.append("\((result.imagesDeleted ?? []).compactMap(\.deleted).count) image layer(s)")
                    space += result.spaceReclaimed ?? 0
                case .networks:
                    let result = try await engine.pruneNetworks()
                    parts.append("\((result.networksDeleted ?? []).count) network(s)")
                case .buildCache:
                    space += try await engine.pruneBuildCache()
                    parts.append("the build cache")
                }
            }
            let freed = ByteCountFormatter.string(fromByteCount: space, countStyle: .binary)
            return "Pruned " + parts.joined(separator: ", ") + "; \(freed) freed."
        }
    }
}
