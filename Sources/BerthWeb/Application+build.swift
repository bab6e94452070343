import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdWebSocket
import NIOSSL
import Logging
import Mustache
import NIOCore
import PAMAuth
import ServiceLifecycle

/// Builds the Berth application: opens the database, loads the templates, creates the engine client, the PAM
/// authenticator and the router.
///
/// Fails with a message naming the setting to change when the database or templates can't be used.
///
/// - Parameter onServerRunning: called once the server listens (the executable gives back start-up memory there).
public func buildApplication(
    _ configuration: AppConfiguration, onServerRunning: @escaping @Sendable () async -> Void = {}
) async throws -> some ApplicationProtocol {
    let built = try await buildRouter(configuration)
    var logger = Logger(label: "berth")
    logger.logLevel = configuration.logLevel
    return Application(
        router: built.responder,
        server: try serverBuilder(configuration, webSocketRouter: built.routes.router),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Berth"),
        services: built.services,
        onServerRunning: { _ in await onServerRunning() },
        logger: logger
    )
}

/// Plain HTTP/1.1 (behind a TLS proxy) with WebSocket upgrades for the console, or, when Berth holds the certificate
/// itself, HTTPS with HTTP/2 and, for connections that negotiate HTTP/1.1 (a browser's WebSocket), the same
/// upgradable HTTP/1.1 (`SecureChannel`). HTTP/2 matters for the live pages: over HTTP/1.1 a browser opens at most six
/// connections to a host, so a seventh tab's stream would wait; over HTTP/2 they all share one.
///
/// The WebSocket handshake goes through the same router, middleware and central check as every other request.
func serverBuilder(_ configuration: AppConfiguration, webSocketRouter: Router<BerthRequestContext>) throws -> HTTPServerBuilder {
    let limits = ConnectionLimits(
        maxConnections: configuration.maxConnections, headerTimeout: .seconds(Int64(configuration.headerTimeout)),
        keepAliveTimeout: .seconds(Int64(configuration.keepAliveTimeout))
    )
    // Hummingbird's own idle timeout covers a request body that stops arriving. On HTTP/1.1 the guard is put in by
    // `GuardedUpgradeChannel`; an HTTP/2 stream gets it as an extra handler.
    let idleTimeout = TimeAmount.seconds(Int64(configuration.keepAliveTimeout))
    let webSocketResponder = webSocketRouter.buildResponder()
    let upgrade = HTTP1WebSocketUpgradeChannel.Configuration(
        http1: HTTP1Channel.Configuration(idleTimeout: idleTimeout),
        ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(30)))
    )
    let http1: @Sendable (@escaping HTTPChannelHandler.Responder) -> GuardedUpgradeChannel<HTTP1WebSocketUpgradeChannel> = {
        GuardedUpgradeChannel(
            base: HTTP1WebSocketUpgradeChannel(responder: $0, webSocketResponder: webSocketResponder, configuration: upgrade),
            limits: limits
        )
    }
    guard let files = configuration.tls else {
        return HTTPServerBuilder { responder in http1(responder) }
    }
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    do {
        chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
    } catch {
        throw StartupError("cannot read the TLS certificate \(files.certificatePath) (--tls-cert): \(error)")
    }
    do {
        key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
    } catch {
        throw StartupError("cannot read the TLS key \(files.keyPath) (--tls-key): \(error)")
    }
    guard !chain.isEmpty else { throw StartupError("no certificate in \(files.certificatePath) (--tls-cert)") }
    let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    let context = try SecureChannel<GuardedUpgradeChannel<HTTP1WebSocketUpgradeChannel>>.context(tls)
    let http2 = HTTP2ChannelConfiguration(
        idleTimeout: .seconds(configuration.keepAliveTimeout),
        streamConfiguration: HTTP1Channel.Configuration(additionalChannelHandlers: limits.handlers(), idleTimeout: idleTimeout)
    )
    return HTTPServerBuilder { responder in
        SecureChannel(sslContext: context, http1: http1(responder), http2: HTTP2Channel(responder: responder, configuration: http2))
    }
}

/// The router with its declared routes, and the services that must stop with the application.
struct BuiltRouter {
    let routes: Routes
    let services: [any Service]
    let streams: StreamCounters
    let metrics: BerthMetrics

    /// What the server answers with: the router, each request in a task of its own (``RequestTaskResponder``).
    var responder: RequestTaskResponderBuilder<Router<BerthRequestContext>> { RequestTaskResponderBuilder(builder: routes.router) }
}

/// How many streams are open and how many upstream engine streams they share (for metrics and tests).
struct StreamCounters: Sendable {
    let engines: EngineDirectory
    let open: StreamRegistry

    /// `local`'s shared upstreams.
    var events: Broadcaster<EngineEventMessage> { engines.local.events }
    var stats: Broadcaster<StatsMessage> { engines.local.stats }
    var tails: Broadcaster<LogStreamMessage> { engines.local.tails }

    var upstreams: Int {
        engines.all.reduce(0) { $0 + $1.events.activeTopics + $1.stats.activeTopics + $1.tails.activeTopics }
    }
}

/// The routes, the middleware in front of them, and the services that must stop with the application.
func buildRouter(_ configuration: AppConfiguration) async throws -> BuiltRouter {
    var logger = Logger(label: "berth")
    logger.logLevel = configuration.logLevel

    let database = try AppDatabase.open(path: configuration.databasePath)
    let views = try await PageRenderer.load(directory: configuration.templatesDirectory)
    // Everything that may refuse to start comes before the clients that own connections and threads (which must be
    // shut down, not dropped).
    let secretKey: SecretKey
    do {
        secretKey = try SecretKey.loadOrCreate(path: configuration.secretKeyPath)
    } catch {
        throw StartupError("\(error)")
    }
    let alertTrustRoots = try AlertSender.trustRoots(configuration.alertsCAFile)
    do {
        try await JobBoard.interruptLeftovers(in: database, logger: logger)
    } catch {
        throw StartupError("cannot mark the jobs an earlier run left as interrupted in \(configuration.databasePath): \(error)")
    }
    let engines = try EngineDirectory.make(configuration, logger: logger)
    // The areas that do not tell engines apart yet (projects, updates, alerts) use `local`.
    let engine = engines.local.client
    let engineAccess = EngineAccess(directory: engines, roles: EngineRoles())
    let pam = PAMAuthenticator(configuration: configuration.pam, logger: logger)

    let accounts = AccountPolicy(pam: pam, roleGroups: configuration.roleGroups, allowRoot: configuration.allowRoot)
    let sessions = SessionManager(
        database: database, configuration: configuration.sessions, accounts: accounts, streamHeartbeat: configuration.streamHeartbeat, logger: logger
    )
    let metrics = BerthMetrics()
    let audit = AuditTrail(database: database, logger: logger, metrics: metrics)
    let clients = ClientResolver(trustedProxy: configuration.trustedProxy)
    let table = RouteTable()

    let router = Router(context: BerthRequestContext.self)
    // Outermost first. The request log and metrics see every answer, refusals and 431s included.
    router.add(middleware: RequestLogMiddleware(metrics: metrics, level: .info))
    // Security headers wrap everything, error pages included.
    router.add(middleware: SecurityHeadersMiddleware(clients: clients, alwaysSecure: configuration.sessions.secureCookies))
    // Outside the file middleware, so it also turns the 404 of a missing static file into a page.
    router.add(middleware: ErrorPageMiddleware(views: views, logger: logger))
    router.add(middleware: FileMiddleware(
        configuration.publicDirectory,
        cacheControl: .init([(MediaType(type: .any), [.public, .maxAge(3600)])]),
        logger: logger
    ))
    // The one central check: declared permission, session, role, CSRF.
    let preferences = PreferencesStore(database: database)
    let shareLinks = ShareLinks(
        database: database, secureCookies: configuration.sessions.secureCookies,
        maxLifetime: TimeInterval(configuration.shareLinkMaxDays) * 86400
    )
    router.add(middleware: AccessControlMiddleware(
        routes: table, sessions: sessions, clients: clients, audit: audit, preferences: preferences, shareLinks: shareLinks,
        engines: engineAccess
    ))
    router.add(middleware: FlashMiddleware())

    let routes = Routes(router: router, table: table)
    HealthController(engine: engine, database: database).addRoutes(to: routes)
    LoginController(
        pam: pam, accounts: accounts, sessions: sessions, throttle: LoginThrottle(configuration: configuration.throttle),
        audit: audit, views: views, metrics: metrics
    ).addRoutes(to: routes)
    let jobs = JobBoard(database: database, audit: audit, maxRunning: configuration.maxJobs, logger: logger)
    let updateMarks = UpdateMarks()
    updateMarks.replace(with: (try? await database.imageUpdates()) ?? [])
    OverviewController(engines: engineAccess, views: views, timeout: .seconds(configuration.engineTimeout)).addRoutes(to: routes)
    ContainersController(views: views, updates: updateMarks).addRoutes(to: routes)
    // Before the actions: /containers/new is a page, not the container named "new".
    RunController(audit: audit, views: views, foregroundWait: configuration.foregroundWait).addRoutes(to: routes)
    ContainerActionsController(audit: audit, views: views, updates: updateMarks, jobs: jobs).addRoutes(to: routes)
    let streamer = EventStreamer(
        sessions: sessions, roles: engineAccess.roles, registry: sessions.streams, limits: configuration.streamLimits
    )
    LogsController(audit: audit, views: views, streamer: streamer).addRoutes(to: routes)
    ConsoleController(
        audit: audit, views: views, sessions: sessions, database: database, settings: configuration.console
    ).addRoutes(to: routes)
    let events = engines.local.events
    EventsController(views: views, streamer: streamer, engines: engineAccess).addRoutes(to: routes)
    StatsController(streamer: streamer).addRoutes(to: routes)
    JobsController(jobs: jobs, audit: audit, views: views, streamer: streamer, engines: engineAccess).addRoutes(to: routes)
    let logins = RegistryLogins(database: database, key: secretKey, keyPath: configuration.secretKeyPath)
    let savedEngines = SavedEngines(database: database, key: secretKey, directory: engines, configuration: configuration, logger: logger)
    await savedEngines.loadAll()
    EnginesController(saved: savedEngines, audit: audit, views: views).addRoutes(to: routes)
    ImagesController(audit: audit, views: views, jobs: jobs, logins: logins).addRoutes(to: routes)
    RegistriesController(logins: logins, audit: audit, views: views).addRoutes(to: routes)
    let alertSender = AlertSender(
        database: database, key: secretKey, allowLocal: configuration.alertsAllowLocal, trustRoots: alertTrustRoots, logger: logger
    )
    let alertWatcher = AlertWatcher(
        engine: engine, events: events, database: database, sender: alertSender, engineName: EngineDefinition.localName,
        logger: logger
    )
    let registry = RegistryClient()
    let updates = UpdateChecker(
        engine: engine, registry: registry, database: database, logins: logins, audit: audit, jobs: jobs,
        interval: configuration.updateCheckInterval, marks: updateMarks, alerts: alertWatcher, logger: logger
    )
    UpdatesController(checker: updates, jobs: jobs, logins: logins, audit: audit).addRoutes(to: routes)
    NetworksController(audit: audit, views: views).addRoutes(to: routes)
    SystemController(audit: audit, views: views).addRoutes(to: routes)
    SwarmController(audit: audit, views: views, streamer: streamer).addRoutes(to: routes)
    VolumesController(audit: audit, views: views).addRoutes(to: routes)
    let folders = ProjectFolders(root: configuration.projectsPath)
    ProjectsController(
        engine: engine, database: database, deployment: ProjectDeployment(engine: engine, database: database, folders: folders), jobs: jobs,
        logins: logins, audit: audit, views: views
    ).addRoutes(to: routes)
    ProjectFilesController(database: database, engine: engine, folders: folders, audit: audit, views: views, editor: EditorLibrary())
        .addRoutes(to: routes)
    AuditController(database: database, engines: engineAccess, audit: audit, views: views).addRoutes(to: routes)
    SettingsController(preferences: preferences, audit: audit, views: views).addRoutes(to: routes)
    // Before the dashboard pages: /dashboards/new is not the dashboard "new".
    let dashboardAccess = DashboardAccess(engines: engineAccess, accounts: accounts)
    DashboardsController(
        database: database, access: dashboardAccess, timeout: .seconds(configuration.engineTimeout), audit: audit, views: views, links: shareLinks, streams: sessions.streams
    ).addRoutes(to: routes)
    DashboardViewController(
        database: database, access: dashboardAccess, updates: updateMarks, audit: audit, views: views, streamer: streamer, sessions: sessions,
        links: shareLinks, timeout: .seconds(configuration.engineTimeout), refreshInterval: configuration.dashboardRefresh
    ).addRoutes(to: routes)
    AlertsController(
        database: database, key: secretKey, watcher: alertWatcher, sender: alertSender, allowLocal: configuration.alertsAllowLocal,
        audit: audit, views: views
    ).addRoutes(to: routes)
    let streams = StreamCounters(engines: engines, open: sessions.streams)
    MetricsController(metrics: metrics, streams: streams).addRoutes(to: routes)
    return BuiltRouter(
        routes: routes,
        services: [
            ShutdownService(engines: engines, registry: registry, pam: pam),
            AuditMaintenance(
                database: database, audit: audit, interval: configuration.auditHeadInterval, retentionDays: configuration.auditRetentionDays,
                logger: logger
            ),
            // Last: services stop in reverse order, so running jobs end (and are recorded) before the engine client
            // closes, and no scheduled check starts meanwhile.
            jobs,
            updates,
            alertSender,
            alertWatcher,
            // The first to stop after the server: the event streams end before anything they read from does.
            StreamDrain(registry: sessions.streams),
        ], streams: streams, metrics: metrics
    )
}

/// Releases the engine client's connections and the PAM threads when the application stops.
struct ShutdownService: Service {
    let engines: EngineDirectory
    let registry: RegistryClient
    let pam: PAMAuthenticator

    func run() async throws {
        // Returns when shutdown begins; a cancelled wait means the same.
        try? await gracefulShutdown()
        await engines.shutdown()
        try await registry.shutdown()
        try await pam.shutdown()
    }
}
