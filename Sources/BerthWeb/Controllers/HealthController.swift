import BerthStore
import EngineAPI
import Hummingbird

/// `GET /healthz`: whether the engine answers and the database can be read and written. Open to everyone (monitors have no session), and tells
/// nothing beyond reachability and the API version.
struct HealthController: Sendable {
    let engine: EngineClient
    let database: AppDatabase

    func addRoutes(to routes: Routes) {
        routes.get("/healthz", .anyone, use: health)
    }

    @Sendable func health(_ request: Request, context: BerthRequestContext) async throws -> EditedResponse<HealthReport> {
        async let databaseOK = database.isHealthy()
        // A real committed write: a full disk or a locked file reads fine and refuses every action.
        async let databaseWritable: Bool = { [database] in
            do { try await database.checkWritable(); return true } catch { return false }
        }()
        var engineReport = HealthReport.Engine(address: engine.address.description, reachable: false)
        do {
            _ = try await engine.ping()
            engineReport.reachable = true
            engineReport.apiVersion = try await engine.apiVersion().description
        } catch {
            engineReport.error = (error as? EngineError)?.description ?? "\(error)"
        }
        let databaseHealthy = await databaseOK
        let writable = await databaseWritable
        let healthy = engineReport.reachable && engineReport.error == nil && databaseHealthy && writable
        let report = HealthReport(
            status: healthy ? "ok" : "unavailable",
            engine: engineReport,
            database: .init(ok: databaseHealthy && writable, readable: databaseHealthy, writable: writable)
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
        var readable: Bool
        /// False when a write can't be committed (full disk, locked or read-only file): every action is refused then.
        var writable: Bool
    }
}
