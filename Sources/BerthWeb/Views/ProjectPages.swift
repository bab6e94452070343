import Compose
import EngineAPI
import Foundation

/// `/projects`: every compose project the engine runs, found by the compose CLI's labels — Berth's and those started
/// with `docker compose` alike.
struct ProjectListPage: Sendable {
    let title = "Projects"
    let rows: [Row]
    let isEmpty: Bool

    struct Row: Sendable {
        let name: String
        let services: String
        let running: Int
        let total: Int
        let state: String
        /// `running`, `exited` or `partly`, for the page's colours.
        let stateClass: String
        let configFiles: String
    }

    init(containers: [ContainerSummary]) {
        let grouped = Dictionary(grouping: containers.filter { $0.labels?[ComposeLabel.project] != nil }) { $0.labels?[ComposeLabel.project] ?? "" }
        rows = grouped.keys.sorted().map { name in
            let members = grouped[name] ?? []
            let running = members.filter { $0.state == "running" }.count
            let services = Set(members.compactMap { $0.labels?[ComposeLabel.service] }).sorted()
            let stateClass = running == members.count ? "running" : running == 0 ? "exited" : "partly"
            return Row(
                name: name, services: services.joined(separator: ", "), running: running, total: members.count,
                state: stateClass == "partly" ? "partly running" : stateClass, stateClass: stateClass,
                configFiles: ProjectPage.files(of: members)
            )
        }
        isEmpty = rows.isEmpty
    }
}

/// `/projects/{name}`: the project's containers by service, with state and health.
struct ProjectPage: Sendable {
    let title: String
    let name: String
    let rows: [Row]
    let workingDir: String
    let configFiles: String

    struct Row: Sendable {
        let id: String
        let name: String
        let service: String
        let number: String
        let state: String
        let status: String
        let image: String
        let ports: String
    }

    init(name: String, containers: [ContainerSummary]) {
        title = "Project \(name)"
        self.name = name
        rows = containers.map { summary in
            let row = ContainerRow(summary)
            let labels = summary.labels ?? [:]
            return Row(
                id: row.id, name: row.name, service: labels[ComposeLabel.service] ?? "", number: labels[ComposeLabel.containerNumber] ?? "",
                state: row.state, status: row.status, image: row.image, ports: row.ports
            )
        }.sorted { ($0.service, Int($0.number) ?? 0) < ($1.service, Int($1.number) ?? 0) }
        workingDir = containers.compactMap { $0.labels?[ComposeLabel.workingDir] }.first ?? ""
        configFiles = Self.files(of: containers)
    }

    /// The project's files as paths: the compose CLI 1.x labels them relative to the working folder.
    static func files(of containers: [ContainerSummary]) -> String {
        let labels = containers.first { $0.labels?[ComposeLabel.configFiles] != nil }?.labels ?? [:]
        let directory = labels[ComposeLabel.workingDir] ?? ""
        return (labels[ComposeLabel.configFiles] ?? "").split(separator: ",").map { file in
            file.hasPrefix("/") || directory.isEmpty ? String(file) : URL(fileURLWithPath: directory).appendingPathComponent(String(file)).path
        }.joined(separator: ", ")
    }
}
