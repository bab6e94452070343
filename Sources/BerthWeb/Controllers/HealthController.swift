import BerthStore
import EngineAPI
import Hummingbird
import NIOConcurrencyHelpers

/// `GET /healthz`: whether the engine answers and the database can be read and written. Open to everyone (monitors have no session), and tells
/// nothing beyond reachability and the API version.
struct HealthController: Sendable {
    let engine: EngineClient
    let database: AppDatabase
    let writable: WriteProbe

    init(engine: EngineClient, database: AppDatabase) {
        self.engine = engine
        self.database = database
        writable = WriteProbe(database: database)
    }

    func addRoutes(to routes: Routes) {
        routes.get("/healthz", .anyone, use: health)
    }

    @Sendable func health(_ request: Request, context: BerthRequestContext) async throws -> EditedResponse<HealthReport> {
        async let databaseOK = database.isHealthy()
        async let databaseWritable = writable.check()
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

/// Whether the database takes writes: a real committed (and synced) one-row write, since a full disk or a locked file
/// reads fine and refuses every action. After a success, at most one every few seconds however often monitors ask: a
/// synced write waits for the disk, which a busy engine may be keeping busy.
final class WriteProbe: Sendable {
    let database: AppDatabase
    let interval: Duration
    private let last = NIOLockedValueBox<(at: ContinuousClock.Instant, writable: Bool)?>(nil)

    init(database: AppDatabase, interval: Duration = .seconds(5)) {
        self.database = database
        self.interval = interval
    }

    func check() async -> Bool {
        // Only a success is reused: a database that refused is asked again, so its recovery shows at once.
        if let last = last.withLockedValue({ $0 }), last.writable, ContinuousClock.now - last.at < interval { return true }
        let writable: Bool
        do {
            try await database.checkWritable()
            writable = true
        } catch {
            writable = false
        }
        last.withLockedValue { $0 = (ContinuousClock.now, writable) }
        return writable
    }
}
