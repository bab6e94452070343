import BerthStore
import EngineAPI
import Hummingbird

/// `GET /healthz`: whether the engine and the database answer. Open to everyone (monitors have no session), and tells
/// nothing beyond reachability and the API version.
struct HealthController: Sendable {
    let engine: EngineClient
    let database: AppDatabase

    func addRoutes(to routes: Routes) {
        routes.get("/healthz", .anyone, use: health)
    }

    @Sendable func health(_ request: Request, context: BerthRequestContext) async throws -> EditedResponse<HealthReport> {
        async let databaseOK = database.isHealthy()
        var engineReport = HealthReport.Engine(address: engine.address.description, reachable: false)
        do {
            _ = try await engine.ping()
            engineReport.reachable = true
            engineReport.apiVersion = try await engine.apiVersion().description
        } catch {
            engineReport.error = (error as? EngineError)?.description ?? "\(error)"
        }
        let databaseHealthy = await databaseOK
        let healthy = engineReport.reachable && engineReport.error == nil && databaseHealthy
        let report = HealthReport(
            status: healthy ? "ok" : "unavailable",
            engine: engineReport,
            database: .init(ok: databaseHealthy)
        )
        var response = EditedResponse(status: report.status == "ok" ? .ok : .serviceUnavailable, response: report)
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

struct HealthReport: ResponseEncodable {
    var status: String
    var engine: Engine
    var database: Database

    struct Engine: Codable {
        var address: String
        var reachable: Bool
        var apiVersion: String?
        var error: String?
    }

    struct Database: Codable {
        var ok: Bool
    }
}
