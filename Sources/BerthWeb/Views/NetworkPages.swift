import EngineAPI
import Foundation

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
