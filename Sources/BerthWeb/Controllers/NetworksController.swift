import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// Networks: list, inspect with the connected containers, create, remove, connect and disconnect.
///
/// Viewers look; operators connect and disconnect containers; admins create and remove networks (a network changes
/// what containers can reach).
struct NetworksController: Sendable {
    let engine: EngineClient
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/networks", .viewContainers, use: list)
        routes.post("/networks/create", .administer, audit: .networkCreate, use: create)
        routes.get("/networks/{id}", .viewContainers, use: show)
        routes.post("/networks/{id}/remove", .administer, audit: .networkRemove, use: remove)
        routes.post("/networks/{id}/connect", .operateContainers, audit: .networkConnect, use: connect)
        routes.post("/networks/{id}/disconnect", .operateContainers, audit: .networkDisconnect, use: disconnect)
    }

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
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
                back: "/networks"
            )
        }
        guard ["bridge", "overlay"].contains(driver) else {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: name, parameters: parameters,
                message: "The driver must be bridge, or overlay on a swarm manager.", back: "/networks"
            )
        }
        guard subnet.isEmpty || NameRules.isValidCIDR(subnet) else {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: name, parameters: parameters,
                message: "“\(subnet)” is not a subnet such as 10.20.0.0/24.", back: "/networks"
            )
        }
        let labels: [String: String]
        do {
            labels = try NameRules.labels(form.lines("labels"))
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "network", targetName: name, parameters: parameters,
                message: error.message, back: "/networks"
            )
        }
        let body = NetworkCreateRequest(
            name: name, driver: driver, internal: form.isChecked("internal"), attachable: form.isChecked("attachable") || driver == "overlay",
            labels: labels, subnet: subnet.isEmpty ? nil : subnet
        )
        let engine = self.engine
        return await audit.perform(
            context: context, targetType: "network", targetName: name, parameters: parameters, back: "/networks"
        ) {
            let created = try await engine.createNetwork(body)
            return "Created network \(name)" + (created.warning.flatMap { $0.isEmpty ? nil : " (\($0))" } ?? "") + "."
        }
    }

    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let engine = self.engine
        return await audit.perform(
            context: context, targetType: "network", targetId: id, back: "/networks",
            backOnFailure: { $0.kind == .notFound ? "/networks" : "/networks/\(EngineClientPath.escape(id))" }
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
        let id = try context.parameters.require("id")
        let container = (context.form["container"] ?? "").trimmingCharacters(in: .whitespaces)
        let page = "/networks/\(EngineClientPath.escape(id))"
        guard !container.isEmpty else {
            return await audit.refuseInput(context: context, targetType: "network", message: "Choose a container.", back: page)
        }
        let engine = self.engine
        return await audit.perform(
            context: context, targetType: "network", targetId: id, parameters: ["container": container], back: page
        ) {
            try await work(engine, id, container)
            return "\(verb) \(container)."
        }
    }
}


/// What `networks.mustache` shows.
struct NetworkListPage: Sendable {
    let title = "Networks"
    let rows: [Row]
    let drivers: [String]
    let swarmManager: Bool

    struct Row: Sendable {
        let id: String
        let shortId: String
        let name: String
        let driver: String
        let scope: String
        let subnets: String
        let isInternal: Bool
        let predefined: Bool
    }

    init(networks: [Network], swarmManager: Bool) {
        rows = networks.sorted { ($0.name ?? "") < ($1.name ?? "") }.map {
            Row(
                id: $0.id, shortId: String($0.id.prefix(12)), name: $0.name ?? "", driver: $0.driver ?? "", scope: $0.scope ?? "",
                subnets: ($0.ipam?.config ?? []).compactMap(\.subnet).joined(separator: ", "), isInternal: $0.isInternal ?? false,
                predefined: $0.isPredefined
            )
        }
        self.swarmManager = swarmManager
        drivers = swarmManager ? ["bridge", "overlay"] : ["bridge"]
    }
}

/// What `network.mustache` shows.
struct NetworkPage: Sendable {
    let title: String
    let id: String
    let name: String
    let driver: String
    let scope: String
    let subnets: [String]
    let isInternal: Bool
    let predefined: Bool
    let labels: [ContainerRow.Label]
    let connected: [Connected]
    let connectable: [Choice]

    struct Connected: Sendable {
        let id: String
        let name: String
        let address: String
    }

    struct Choice: Sendable {
        let id: String
        let name: String
    }

    init(_ network: Network, containers: [ContainerSummary]) {
        id = network.id
        name = network.name ?? network.id
        title = "Network \(name)"
        driver = network.driver ?? ""
        scope = network.scope ?? ""
        subnets = (network.ipam?.config ?? []).compactMap(\.subnet)
        isInternal = network.isInternal ?? false
        predefined = network.isPredefined
        labels = (network.labels ?? [:]).sorted { $0.key < $1.key }.map { ContainerRow.Label(key: $0.key, value: $0.value) }
        let attached = network.containers ?? [:]
        connected = attached.sorted { ($0.value.name ?? "") < ($1.value.name ?? "") }.map {
            Connected(id: $0.key, name: $0.value.name ?? String($0.key.prefix(12)), address: $0.value.ipv4Address ?? "")
        }
        connectable = containers.filter { attached[$0.id] == nil }.map {
            Choice(id: $0.id, name: ContainerRow($0).name)
        }.sorted { $0.name < $1.name }
    }
}
