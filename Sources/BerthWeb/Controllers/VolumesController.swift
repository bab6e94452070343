import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// Volumes: list with sizes and users, create, remove, prune with a preview.
///
/// Operators create plain volumes; a volume with driver options is admin-only (`type=none,o=bind,device=…` is a host
/// bind in disguise); removing and pruning are for admins.
struct VolumesController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/volumes", .viewContainers, use: list)
        routes.post("/volumes/create", .operateContainers, audit: .volumeCreate, use: create)
        routes.get("/volumes/prune", .administer, use: prunePreview)
        routes.post("/volumes/prune", .administer, audit: .volumePrune, use: prune)
        routes.post("/volumes/{name}/remove", .administer, audit: .volumeRemove, use: remove)
    }

    /// The list: one call each for volumes, containers (who uses what) and, for sizes, `/system/df` (which measures
    /// on disk: when it fails or is slow the page shows no sizes rather than nothing).
    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        do {
            async let volumes = engine.listVolumes()
            async let containers = engine.listContainers(all: true)
            async let usage = engine.diskUsage()
            let sizes = Dictionary(
                ((try? await usage)?.volumes ?? []).compactMap { item in item.name.map { ($0, item.usageData?.size ?? -1) } },
                uniquingKeysWith: { first, _ in first }
            )
            let page = VolumeListPage(volumes: try await volumes, containers: try await containers, sizes: sizes)
            return try views.page("volumes", page, context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no volumes list.")
        }
    }

    /// `POST /volumes/create` (name, driver options as KEY=VALUE lines, labels).
    @Sendable func create(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let form = context.form
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let options: [String: String]
        let labels: [String: String]
        do {
            options = try NameRules.labels(form.lines("options"))
            labels = try NameRules.labels(form.lines("labels"))
        } catch {
            return await audit.refuseInput(context: context, targetType: "volume", targetName: name, message: error.message, back: context.link("/volumes"))
        }
        var parameters = ["options": options.keys.sorted().map { "\($0)=\(options[$0] ?? "")" }.joined(separator: ",")]
        if parameters["options"] == "" { parameters = [:] }
        guard name.isEmpty || (NameRules.isValidObjectName(name) && name.count >= 2) else {
            return await audit.refuseInput(
                context: context, targetType: "volume", targetName: String(name.prefix(128)), parameters: parameters,
                message: "A volume name has at least two characters: letters, digits, _ . - (or leave it empty for a generated one).",
                back: context.link("/volumes")
            )
        }
        if !options.isEmpty && !context.isAdmin {
            await audit.record(
                outcome: .denied, context: context, targetType: "volume", targetName: name, parameters: parameters,
                error: "driver options are admin-only"
            )
            return .redirect(to: context.link("/volumes"), flash: Flash(.error, "Only admins may give driver options (they can bind host folders). Nothing was created."))
        }
        return await audit.perform(
            context: context, targetType: "volume", targetName: name.isEmpty ? nil : name, parameters: parameters,
            back: context.link("/volumes")
        ) {
            let volume = try await engine.createVolume(VolumeCreateRequest(name: name, driverOpts: options, labels: labels))
            return "Created volume \(volume.name)."
        }
    }

    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let name = try context.parameters.require("name")
        return await audit.perform(context: context, targetType: "volume", targetName: name, back: context.link("/volumes")) {
            try await engine.removeVolume(name)
            return "Removed volume \(name)."
        }
    }

    /// `GET /volumes/prune`: the volumes no container uses, and their sizes.
    @Sendable func prunePreview(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        do {
            async let volumes = engine.listVolumes()
            async let containers = engine.listContainers(all: true)
            let used = Set(try await containers.flatMap { $0.mounts ?? [] }.compactMap(\.name))
            let unused = try await volumes.filter { !used.contains($0.name) && ($0.driver ?? "local") == "local" }
            let sizes = Dictionary(
                ((try? await engine.diskUsage())?.volumes ?? []).compactMap { item in item.name.map { ($0, item.usageData?.size ?? -1) } },
                uniquingKeysWith: { first, _ in first }
            )
            return try views.page("volumes-prune", VolumeListPage(volumes: unused, containers: [], sizes: sizes), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no volumes list.")
        }
    }

    @Sendable func prune(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        return await audit.perform(context: context, targetType: "volume", back: context.link("/volumes")) {
            let result = try await engine.pruneVolumes()
            let space = ByteCountFormatter.string(fromByteCount: result.spaceReclaimed ?? 0, countStyle: .binary)
            return "Pruned \((result.volumesDeleted ?? []).count) volume(s), \(space) freed."
        }
    }
}
