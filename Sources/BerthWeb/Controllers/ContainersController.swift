import EngineAPI
import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// The container list.
struct ContainersController: Sendable {
    let engine: EngineClient
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/", .viewContainers) { (_, _: SignedInContext) in Response.redirect(to: "/containers", type: .found) }
        routes.get("/containers", .viewContainers, use: list)
    }

    /// `GET /containers[?all=1&name=&image=&label=&state=&sort=]`: one engine call, whatever the number of containers;
    /// the engine does the filtering.
    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let query = ContainerListQuery(request.uri.queryParameters, showAllByDefault: context.preferences.containerFilter == .all)
        do {
            let containers = try await engine.listContainers(all: query.showAll, filters: query.engineFilters)
            let selectable = context.user.role >= .operator
            let rows = query.sort.apply(to: containers.map { summary in
                var row = ContainerRow(summary)
                row.selectable = selectable
                return row
            })
            let page = ContainerListPage(
                query: query,
                rows: rows,
                runningCount: containers.filter { $0.state == "running" }.count,
                totalShown: containers.count,
                engineProblem: nil
            )
            return try views.containerListPage(page, context: context)
        } catch let error as EngineError {
            context.logger.warning("engine request failed", metadata: ["error": "\(error)"])
            let page = ContainerListPage(
                query: query, rows: [], runningCount: 0, totalShown: 0,
                engineProblem: EngineProblem(address: engine.address.description, message: error.description)
            )
            // The page renders, but with 503 so that monitors and scripts see the failure too.
            return try views.page("containers", page, context: context, status: .serviceUnavailable)
        }
    }
}

/// The list's filters and order, from the query string.
struct ContainerListQuery: Sendable {
    let showAll: Bool
    let name: String
    let image: String
    let label: String
    let state: String
    let sort: ContainerSort

    static let states = ["created", "running", "paused", "restarting", "removing", "exited", "dead"]

    /// `showAllByDefault` is the user's setting, used when the query does not say (`all=0` or `all=1`).
    init(_ parameters: FlatDictionary<Substring, Substring>, showAllByDefault: Bool = false) {
        func text(_ key: String) -> String {
            let value = parameters[Substring(key)].map { String($0) } ?? ""
            return String(value.trimmingCharacters(in: .whitespaces).prefix(200))
        }
        // The form sends a hidden all=0 before the checkbox's all=1: the last one wins.
        let all = parameters.getAll("all").last.map { String($0) } ?? (showAllByDefault ? "1" : "0")
        state = Self.states.contains(text("state")) ? text("state") : ""
        // A state other than running only makes sense over all containers.
        showAll = all == "1" || all == "true" || (!state.isEmpty && state != "running")
        name = text("name")
        image = text("image")
        label = text("label")
        sort = ContainerSort(rawValue: text("sort")) ?? .created
        isFiltered = !name.isEmpty || !image.isEmpty || !label.isEmpty || !state.isEmpty
        stateOptions = Self.states.map { [state] in Option(value: $0, selected: $0 == state) }
        sortOptions = ContainerSort.allCases.map { [sort] in Option(value: $0.rawValue, selected: $0 == sort) }
    }

    var engineFilters: ContainerFilters {
        ContainerFilters(
            status: state.isEmpty ? [] : [state],
            label: label.isEmpty ? [] : [label],
            name: name.isEmpty ? [] : [name],
            ancestor: image.isEmpty ? [] : [image]
        )
    }

    // Stored, not computed: templates only see stored properties.
    let isFiltered: Bool
    /// The state choices for the filter's select, with the current one marked.
    let stateOptions: [Option]
    let sortOptions: [Option]

    struct Option: Sendable {
        let value: String
        let selected: Bool
    }
}

enum ContainerSort: String, CaseIterable, Sendable {
    case created, name, image, state

    func apply(to rows: [ContainerRow]) -> [ContainerRow] {
        switch self {
        case .created: rows.sorted { ($0.createdEpoch, $0.id) > ($1.createdEpoch, $1.id) }
        case .name: rows.sorted { $0.name.localizedStandardCompare($1.name) == .orderedAscending }
        case .image: rows.sorted { ($0.image, $0.name) < ($1.image, $1.name) }
        case .state: rows.sorted { ($0.state, $0.name) < ($1.state, $1.name) }
        }
    }
}
