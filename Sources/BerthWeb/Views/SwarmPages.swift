import EngineAPI
import Foundation

/// What `swarm.mustache` shows.
struct SwarmPage: Sendable {
    let title = "Swarm"
    let manager: Bool
    let nodes: [NodeRow]
    let services: [ServiceRow]

    struct NodeRow: Sendable {
        let id: String
        let hostname: String
        let role: String
        let availability: String
        let state: String
        let engineVersion: String
        let leader: Bool
        let choices: [Choice]
    }

    struct Choice: Sendable {
        let value: String
        let selected: Bool
    }

    struct ServiceRow: Sendable {
        let id: String
        let name: String
        let mode: String
        let replicas: String
        let image: String
        let ports: String
    }

    init(nodes: [SwarmNode], services: [SwarmService], tasks: [SwarmTask], manager: Bool) {
        self.manager = manager
        self.nodes = nodes.map { node in
            let availability = node.spec?.availability ?? ""
            return NodeRow(
                id: node.id, hostname: node.description?.hostname ?? node.id, role: node.spec?.role ?? "", availability: availability,
                state: node.status?.state ?? "", engineVersion: node.description?.engine?.engineVersion ?? "",
                leader: node.managerStatus?.leader ?? false,
                choices: SwarmController.availabilities.map { Choice(value: $0, selected: $0 == availability) }
            )
        }
        self.services = services.sorted { ($0.spec?.name ?? "") < ($1.spec?.name ?? "") }.map { service in
            ServiceRow(service, tasks: tasks.filter { $0.serviceID == service.id })
        }
    }
}

extension SwarmPage.ServiceRow {
    init(_ service: SwarmService, tasks: [SwarmTask]) {
        id = service.id
        name = service.spec?.name ?? service.id
        let running = tasks.filter { $0.status?.state == "running" && $0.desiredState == "running" }.count
        if let replicated = service.spec?.mode?.replicated {
            mode = "replicated"
            replicas = "\(running) / \(replicated.replicas ?? 0)"
        } else {
            mode = "global"
            replicas = "\(running) running"
        }
        image = (service.spec?.taskTemplate?.containerSpec?.image ?? "").split(separator: "@").first.map(String.init) ?? ""
        ports = (service.endpoint?.ports ?? []).map { "\($0.publishedPort ?? 0)→\($0.targetPort ?? 0)/\($0.proto ?? "tcp")" }
            .joined(separator: ", ")
    }
}

/// What `service.mustache` shows.
struct ServicePage: Sendable {
    let title: String
    let row: SwarmPage.ServiceRow
    let replicated: Bool
    let desired: Int
    let command: String
    let tasks: [TaskRow]

    struct TaskRow: Sendable {
        let id: String
        let slot: String
        let node: String
        let state: String
        let desired: String
        let message: String
        let error: String?
        let since: String
    }

    init(_ service: SwarmService, tasks: [SwarmTask]) {
        row = SwarmPage.ServiceRow(service, tasks: tasks)
        title = "Service \(row.name)"
        replicated = service.spec?.mode?.replicated != nil
        desired = service.spec?.mode?.replicated?.replicas ?? 0
        let spec = service.spec?.taskTemplate?.containerSpec
        command = ((spec?.command ?? []) + (spec?.args ?? [])).joined(separator: " ")
        self.tasks = tasks.sorted { ($0.status?.timestamp ?? "") > ($1.status?.timestamp ?? "") }.map {
            TaskRow(
                id: String($0.id.prefix(12)), slot: $0.slot.map(String.init) ?? "", node: String(($0.nodeID ?? "").prefix(12)),
                state: $0.status?.state ?? "", desired: $0.desiredState ?? "", message: $0.status?.message ?? "",
                error: $0.status?.err.flatMap { $0.isEmpty ? nil : $0 }, since: String(($0.status?.timestamp ?? "").prefix(19))
            )
        }
    }
}
