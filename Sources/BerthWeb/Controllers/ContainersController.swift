import EngineAPI
import Hummingbird
import Logging

/// The container pages.
struct ContainersController: Sendable {
    let engine: EngineClient
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/", .viewContainers) { _, _ in Response.redirect(to: "/containers", type: .found) }
        routes.get("/containers", .viewContainers, use: list)
    }

    /// `GET /containers[?all=1]`: running containers, or all of them.
    @Sendable func list(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let showAll = request.uri.queryParameters["all"].map { $0 == "1" || $0 == "true" } ?? false
        do {
            let containers = try await engine.listContainers(all: showAll)
                .sorted { ($0.created ?? 0, $0.id) > ($1.created ?? 0, $1.id) }
            let page = ContainerListPage(
                showAll: showAll,
                rows: containers.map(ContainerRow.init),
                runningCount: containers.filter { $0.state == "running" }.count,
                totalShown: containers.count,
                engineProblem: nil
            )
            return try views.page("containers", page, context: context)
        } catch let error as EngineError {
            context.logger.warning("engine request failed", metadata: ["error": "\(error)"])
            let page = ContainerListPage(
                showAll: showAll, rows: [], runningCount: 0, totalShown: 0,
                engineProblem: EngineProblem(address: engine.address.description, message: error.description)
            )
            // The page renders, but with 503 so that monitors and scripts see the failure too.
            return try views.page("containers", page, context: context, status: .serviceUnavailable)
        }
    }
}
