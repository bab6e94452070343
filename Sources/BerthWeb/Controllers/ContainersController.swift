import EngineAPI
import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// The container list.
struct ContainersController: Sendable {
    let views: PageRenderer
    let updates: UpdateMarks

    func addRoutes(to routes: Routes) {
        routes.on(.named).get("/containers", .viewContainers, use: list)
    }

    /// `GET /containers[?all=1&name=&image=&label=&state=&sort=]`: one engine call, whatever the number of containers;
    /// the engine does the filtering.
    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let query = ContainerListQuery(request.uri.queryParameters, showAllByDefault: context.preferences.containerFilter == .all)
        do {
            let containers = try await engine.listContainers(all: query.showAll, filters: query.engineFilters)
            let selectable = context.user.role >= .operator
            let isLocal = try context.engine.isLocal
            let rows = query.sort.apply(to: containers.map { summary in
                var row = ContainerRow(summary)
                row.selectable = selectable
                row.enginePath = context.base.enginePath
                // Update checks look at `local`'s images only.
                row.updateAvailable = isLocal && updates.updateAvailable(reference: summary.image, imageId: summary.imageID)
                return row
            })
            let page = ContainerListPage(
                query: query,
                rows: rows,
                runningCount: containers.filter { $0.state == "running" }.count,
                totalShown: containers.count,
                engineProblem: nil,
                path: context.link("/containers")
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
