import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// Networks: list, inspect with the connected containers, create, remove, connect and disconnect.
///
/// Viewers look; operators connect and disconnect containers; admins create and remove networks (a network changes
/// what containers can reach).
struct NetworksController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/networks", .viewContainers, use: list)
        routes.post("/networks/create", .administer, audit: .networkCreate, use: create)
        routes.get("/networks/{id}", .viewContainers, use: show)
        routes.post("/networks/{id}/remove", .administer, audit: .networkRemove, use: remove)
        routes.post("/networks/{id}/connect", .operateContainers, audit: .networkConnect, use: connect)
        routes.post("/networks/{id}/disconnect", .operateContainers, audit: .networkDisconnect, use: disconnect)
    }

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        do {
            async let networks = engine.listNetworks()
            async let info = engine.info()
            let swarmManager = (try? await info)?.isSwarmManager ?? false
            return try views.page("networks", NetworkListPage(networks: try await networks, swarmManager: swarmManager), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no networks list.")
        }
    }

    @Sendable func show(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        do {
            let network = try await engine.inspectNetwork(id)
            // Containers that could be connected: one list call.
            let containers = (try? await engine.listContainers(all: true)) ?? []
            return try views.page("network", NetworkPage(network, containers: containers), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such network: \(id).")
        }
    }

    /// `POST /networks/create` (name, driver, subnet, internal, attachable, labels): the body built from these fields.
    @Sendable func create(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let form = context.form
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let driver = form["driver"] ?? "bridge"
        let subnet = (form["subnet"] ?? "").trimmingCharacters(in: .whitespaces)
        var parameters = ["driver": driver, "internal": form.isChecked("internal") ? "1" : "0"]
        if !subnet.isEmpty { parameters["subnet"] = subnet }
        guard NameRules.isValidObjectName(name) else {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: String(name.prefix(128)), parameters: parameters,
                message: "A network name starts with a letter or digit and has only letters, digits, _ . - (at most 128).",
                back: context.link("/networks")
            )
        }
        guard ["bridge", "overlay"].contains(driver) else {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: name, parameters: parameters,
                message: "The driver must be bridge, or overlay on a swarm manager.", back: context.link("/networks")
            )
        }
        guard subnet.isEmpty || NameRules.isValidCIDR(subnet) else {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: name, parameters: parameters,
                message: "“\(subnet)” is not a subnet such as 10.20.0.0/24.", back: context.link("/networks")
            )
        }
        let labels: [String: String]
        do {
            labels = try NameRules.labels(form.lines("labels"))
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: name, parameters: parameters,
                message: error.message, back: context.link("/networks")
            )
        }
        let body = NetworkCreateRequest(
            name: name, driver: driver, internal: form.isChecked("internal"), attachable: form.isChecked("attachable") || driver == "overlay",
            labels: labels, subnet: subnet.isEmpty ? nil : subnet
        )
        return await audit.perform(
            context: context, targetType: "network", targetName: name, parameters: parameters, back: context.link("/networks")
        ) {
            let created = try await engine.createNetwork(body)
            return "Created network \(name)" + (created.warning.flatMap { $0.isEmpty ? nil : " (\($0))" } ?? "") + "."
        }
    }

    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        return await audit.perform(
            context: context, targetType: "network", targetId: id, back: context.link("/networks"),
            backOnFailure: { $0.kind == .notFound ? context.link("/networks") : context.link("/networks/\(EngineClientPath.escape(id))") }
        ) {
            try await engine.removeNetwork(id)
            return "Removed network \(id)."
        }
    }

    @Sendable func connect(_ request: Request, context: SignedInContext) async throws -> Response {
        try await change(context, verb: "Connected") { engine, network, container in
            try await engine.connectNetwork(network, container: container)
        }
    }

    @Sendable func disconnect(_ request: Request, context: SignedInContext) async throws -> Response {
        try await change(context, verb: "Disconnected") { engine, network, container in
            try await engine.disconnectNetwork(network, container: container)
        }
    }

    private func change(
        _ context: SignedInContext, verb: String,
        _ work: @escaping @Sendable (EngineClient, String, String) async throws -> Void
    ) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let container = (context.form["container"] ?? "").trimmingCharacters(in: .whitespaces)
        let page = context.link("/networks/\(EngineClientPath.escape(id))")
        guard !container.isEmpty else {
            return await audit.refuseInput(context: context, targetType: "network", message: "Choose a container.", back: page)
        }
        return await audit.perform(
            context: context, targetType: "network", targetId: id, parameters: ["container": container], back: page
        ) {
            try await work(engine, id, container)
            return "\(verb) \(container)."
        }
    }
}
