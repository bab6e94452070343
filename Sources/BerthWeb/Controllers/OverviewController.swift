import EngineAPI
import Foundation
import Hummingbird

/// `/`: every engine the user has a role on — state, API version, counts — and one container list across them. The
/// engines are asked in parallel, each for at most `--engine-timeout`: a stopped or slow one is marked unreachable and
/// delays the page no longer than that.
struct OverviewController: Sendable {
    let engines: EngineAccess
    let views: PageRenderer
    let timeout: Duration

    func addRoutes(to routes: Routes) {
        routes.get("/", .viewContainers, use: overview)
    }

    /// What one engine answered in time.
    private struct Answer: Sendable {
        let info: SystemInfo
        let apiVersion: APIVersion
        let containers: [ContainerSummary]
    }

    /// `GET /[?all=1&name=&image=&label=&state=&sort=]`: the filters of the container list, applied on every engine.
    @Sendable func overview(_ request: Request, context: SignedInContext) async throws -> Response {
        // With one engine there is nothing to overview: its list, as before.
        guard engines.directory.all.count > 1 else { return .redirect(to: "/containers", type: .found) }
        let query = ContainerListQuery(request.uri.queryParameters, showAllByDefault: context.preferences.containerFilter == .all)
        let visible = engines.roles.engines(of: context.user, in: engines.directory)
        let answers = await askEach(visible.map(\.engine), timeout: timeout) { engine in
            async let info = engine.recentInfo()
            async let version = engine.client.apiVersion()
            async let containers = engine.client.listContainers(all: query.showAll, filters: query.engineFilters)
            return Answer(info: try await info, apiVersion: try await version, containers: try await containers)
        }
        var summaries: [EngineSummary] = []
        var rows: [ContainerRow] = []
        for ((engine, role), answer) in zip(visible, answers) {
            switch answer {
            case .success(let answer):
                summaries.append(EngineSummary(engine: engine, role: role, info: answer.info, apiVersion: answer.apiVersion))
                rows += answer.containers.map { summary in
                    var row = ContainerRow(summary)
                    row.enginePath = engine.path
                    row.engineName = engine.name
                    return row
                }
            case .failure(let error):
                summaries.append(EngineSummary(engine: engine, role: role, problem: (error as? EngineError)?.description ?? "\(error)"))
            case nil:
                summaries.append(EngineSummary(engine: engine, role: role, problem: "No answer within \(timeout.components.seconds) s."))
            }
        }
        let page = OverviewPage(engines: summaries, query: query, rows: query.sort.apply(to: rows))
        return try views.page("overview", page, rows: page.rows, context: context)
    }
}
