import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import Mustache
import ServiceLifecycle

/// Builds the Berth application: opens the database, loads the templates, creates the engine client and the router.
///
/// Fails with a message naming the setting to change when the database or templates can't be used.
public func buildApplication(_ configuration: AppConfiguration) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "berth")
    logger.logLevel = configuration.logLevel

    let database = try AppDatabase.open(path: configuration.databasePath)
    let views = try await PageRenderer.load(directory: configuration.templatesDirectory)
    var engineLogger = logger
    engineLogger[metadataKey: "engine"] = "\(configuration.engineAddress)"
    let engine = EngineClient(address: configuration.engineAddress, apiVersion: configuration.apiVersion, logger: engineLogger)

    let router = buildRouter(
        engine: engine, database: database, views: views, publicDirectory: configuration.publicDirectory, logger: logger
    )
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Berth"),
        services: [EngineClientService(engine: engine)],
        logger: logger
    )
}

/// The routes and the middleware in front of them.
func buildRouter(
    engine: EngineClient, database: AppDatabase, views: PageRenderer, publicDirectory: String, logger: Logger
) -> Router<BerthRequestContext> {
    let router = Router(context: BerthRequestContext.self)
    // Outermost, so it also turns the 404 of a missing static file into a page.
    router.add(middleware: ErrorPageMiddleware(views: views, logger: logger))
    router.add(middleware: LogRequestsMiddleware(.info))
    router.add(middleware: FileMiddleware(
        publicDirectory,
        cacheControl: .init([(MediaType(type: .any), [.public, .maxAge(3600)])]),
        logger: logger
    ))

    HealthController(engine: engine, database: database).addRoutes(to: router)

    // Pages behind sign-in. The authentication middleware (PAM login) goes on this group.
    let pages = router.group()
    ContainersController(engine: engine, views: views).addRoutes(to: pages)
    return router
}

/// Shuts the engine client's connection pool down when the application stops.
struct EngineClientService: Service {
    let engine: EngineClient

    func run() async throws {
        // Returns when shutdown begins; a cancelled wait means the same.
        try? await gracefulShutdown()
        try await engine.shutdown()
    }
}
