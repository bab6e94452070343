import EngineAPI

/// What `overview.mustache` shows: every engine the user has a role on, and their containers in one list.
struct OverviewPage: Sendable {
    let title = "Overview"
    let engines: [EngineSummary]
    let query: ContainerListQuery
    /// This page's rows; the counts are the whole list's.
    let rows: [ContainerRow]
    let paging: ContainerListPaging?
    let totalShown: Int
    let runningCount: Int
    /// nil when all answered (Mustache treats 0 as true).
    let unreachableCount: Int?
    let isEmpty: Bool
    let rowsHTML = PageRenderer.rowsMarker

    /// `rows` is the whole list, sorted.
    init(engines: [EngineSummary], query: ContainerListQuery, rows: [ContainerRow]) {
        self.engines = engines
        self.query = query
        (self.rows, paging) = ContainerListPaging.page(of: rows, query: query, path: "/")
        totalShown = rows.count
        runningCount = rows.filter { $0.state == "running" }.count
        let unreachable = engines.filter { !$0.up }.count
        unreachableCount = unreachable == 0 ? nil : unreachable
        isEmpty = rows.isEmpty
    }
}

/// One engine's line of the overview: its state, API version and counts, or why it could not be asked.
struct EngineSummary: Sendable {
    let name: String
    let path: String
    let address: String
    let role: String
    let up: Bool
    let version: String?
    let apiVersion: String?
    let containers: Int?
    let running: Int?
    let images: Int?
    /// Why it is shown as unreachable.
    let problem: String?

    init(engine: EngineHandle, role: Role, info: SystemInfo, apiVersion: APIVersion) {
        name = engine.name
        path = engine.path
        address = engine.client.address.description
        self.role = role.rawValue
        up = true
        version = info.serverVersion
        self.apiVersion = apiVersion.description
        containers = info.containers
        running = info.containersRunning
        images = info.images
        problem = nil
    }

    init(engine: EngineHandle, role: Role, problem: String) {
        name = engine.name
        path = engine.path
        address = engine.client.address.description
        self.role = role.rawValue
        up = false
        version = nil
        apiVersion = nil
        containers = nil
        running = nil
        images = nil
        self.problem = problem
    }
}
