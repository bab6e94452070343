import ArgumentParser
import BerthWeb
import EngineAPI
import Foundation
import Hummingbird
import Logging
import PAMAuth

@main
struct BerthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A web administration server for Docker Engine.",
        subcommands: [Serve.self, CheckConfig.self, AuditCommand.self, DatabaseCommand.self],
        defaultSubcommand: Serve.self
    )
}

/// `berth serve`: every option can also come from a `BERTH_*` environment variable or the configuration file.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the Berth web interface.")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let configuration = try options.resolved()
        ReturnedMemory.configureAllocator()
        do {
            let logLevel = configuration.logLevel
            let app = try await buildApplication(configuration) {
                let released = StartupMemory.release()
                var logger = Logger(label: "berth")
                logger.logLevel = logLevel
                logger.debug("start-up pages given back", metadata: ["advised_bytes": "\(released)"])
            }
            try await app.runService()
        } catch {
            // Start-up failures (database path, templates, a port in use) are the user's to fix: say what, no trace.
            FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The options of `serve` (and `check-config`). Precedence: a flag, else its `BERTH_*` variable, else the
/// configuration file's key of the same name, else the default.
struct ServeOptions: ParsableArguments {
    @Option(help: "Configuration file (env BERTH_CONFIG, default \(ConfigurationFile.defaultPath), which may be missing).")
    var config: String?

    @Option(help: "Address to listen on (env BERTH_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (env BERTH_PORT, default 8080).")
    var port: Int?

    @Option(help: "SQLite database file (env BERTH_DATABASE, default \(AppConfiguration.defaultDatabasePath)).")
    var database: String?

    @Option(help: "Docker Engine address, unix:///path or tcp://host:port (env BERTH_ENGINE, else DOCKER_HOST, else unix:///var/run/docker.sock).")
    var engine: String?

    @Option(help: "Folder of the Mustache templates (env BERTH_TEMPLATES, default ./Templates).")
    var templates: String?

    @Option(name: .customLong("public"), help: "Folder of the static files (env BERTH_PUBLIC, default ./Public).")
    var publicDirectory: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env BERTH_LOG_LEVEL, default info).")
    var logLevel: String?

    @Option(help: "PAM service name, /etc/pam.d/<name> (env BERTH_PAM_SERVICE, default berth).")
    var pamService: String?

    @Option(help: "Unix group whose members are admins (env BERTH_ADMIN_GROUP, default berth-admin).")
    var adminGroup: String?

    @Option(help: "Unix group whose members are operators (env BERTH_OPERATOR_GROUP, default berth-operator).")
    var operatorGroup: String?

    @Option(help: "Unix group whose members are viewers (env BERTH_VIEWER_GROUP, default berth-viewer).")
    var viewerGroup: String?

    @Flag(help: "Let root sign in (env BERTH_ALLOW_ROOT=1).")
    var allowRoot = false

    @Option(help: "Seconds of inactivity after which a session ends (env BERTH_SESSION_IDLE_TIMEOUT, default 1800).")
    var sessionIdleTimeout: Int?

    @Option(help: "Seconds after sign-in at which a session ends (env BERTH_SESSION_LIFETIME, default 43200).")
    var sessionLifetime: Int?

    @Flag(help: "Mark cookies Secure and name the session cookie __Host-berth, as behind a TLS proxy (env BERTH_SECURE_COOKIES=1).")
    var secureCookies = false

    @Option(help: "PEM certificate (chain) to serve HTTPS and HTTP/2 with; needs --tls-key (env BERTH_TLS_CERT).")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert (env BERTH_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "Address of the reverse proxy whose X-Forwarded-For/-Proto are trusted (env BERTH_TRUSTED_PROXY).")
    var trustedProxy: String?

    @Option(help: "Consecutive failed sign-ins of one account from one address before a lockout (env BERTH_LOGIN_MAX_FAILURES, default 5).")
    var loginMaxFailures: Int?

    @Option(help: "Seconds such a lockout lasts (env BERTH_LOGIN_LOCKOUT, default 900).")
    var loginLockout: Int?

    @Option(help: "Failed sign-ins of one account per hour, from anywhere, before it is locked out (env BERTH_LOGIN_MAX_FAILURES_PER_HOUR, default 100).")
    var loginMaxFailuresPerHour: Int?

    @Option(help: "Sign-ins waiting for PAM at once; more get 503 (env BERTH_MAX_PENDING_LOGINS, default 10).")
    var maxPendingLogins: Int?

    @Option(help: "Remove audit rows older than this many days, oldest first, leaving a checkpoint (env BERTH_AUDIT_RETENTION, default keep forever).")
    var auditRetention: Int?

    @Option(help: "Seconds between log lines that carry the newest audit hash (env BERTH_AUDIT_HEAD_INTERVAL, default 300).")
    var auditHeadInterval: Int?

    @Option(help: "The longest a dashboard's share link may stay valid, in days (env BERTH_SHARE_LINK_MAX_DAYS, default 7).")
    var shareLinkMaxDays: Int?

    @Option(help: "Connections served at once; past it only signed-in people get answers, others 503 (env BERTH_MAX_CONNECTIONS, default 1000).")
    var maxConnections: Int?

    @Option(help: "Seconds a new connection has to send a whole request head (env BERTH_HEADER_TIMEOUT, default 10).")
    var headerTimeout: Int?

    @Option(help: "Seconds an idle keep-alive connection waits for its next request (env BERTH_KEEPALIVE_TIMEOUT, default 60).")
    var keepaliveTimeout: Int?

    @Option(help: "Live views (event streams) open at once in all; more get 503 (env BERTH_MAX_STREAMS, default 1000).")
    var maxStreams: Int?

    @Option(help: "Live views one session may have open; more get 429 (env BERTH_MAX_STREAMS_PER_SESSION, default 24).")
    var maxStreamsPerSession: Int?

    @Option(help: "Live views one share link may have open; more get 429 (env BERTH_MAX_STREAMS_PER_LINK, default 4).")
    var maxStreamsPerLink: Int?

    @Option(help: "Log connections open to the engine at once (one per followed container, shared by its pages); more wait for one to close (env BERTH_MAX_ENGINE_STREAMS, default 512).")
    var maxEngineStreams: Int?

    /// The configuration from the process's environment, file errors as validation errors (a message, no trace).
    func resolved() throws -> AppConfiguration {
        do {
            return try resolve(ProcessInfo.processInfo.environment).configuration
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    /// What `serve` would run with, and the configuration file it was read from (nil: none).
    struct Resolved {
        var configuration: AppConfiguration
        var file: String?
    }

    func resolve(_ environment: [String: String]) throws -> Resolved {
        func environmentValue(_ variable: String) -> String? {
            environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        let namedFile = config ?? environmentValue("BERTH_CONFIG")
        let file = try ConfigurationFile.load(path: namedFile ?? ConfigurationFile.defaultPath, explicit: namedFile != nil)

        /// A flag, else its variable, else the file's key; with where it came from, for messages.
        func value(_ flag: String?, _ variable: String, _ key: String) -> String? {
            flag ?? environmentValue(variable) ?? file?.string(key)
        }
        func number(_ flag: Int?, _ variable: String, _ key: String, atLeast minimum: Int) throws -> Int? {
            var result = flag.map { ($0, "--\(key)") }
            if result == nil, let text = environmentValue(variable) {
                guard let parsed = Int(text) else { throw ConfigurationError("\(variable) '\(text)' is not a whole number") }
                result = (parsed, variable)
            }
            if result == nil, let file, let integer = file.integer(key) { result = (integer, file.source(key)) }
            if let (number, source) = result, number < minimum { throw ConfigurationError("\(source) must be at least \(minimum)") }
            return result?.0
        }
        /// A flag given is true; the variable may say yes (1, true, yes) or no (0, false, no); then the file.
        func boolean(_ flag: Bool, _ variable: String, _ key: String) throws -> Bool {
            if flag { return true }
            if let text = environmentValue(variable)?.lowercased() {
                if ["1", "true", "yes"].contains(text) { return true }
                if ["0", "false", "no"].contains(text) { return false }
                throw ConfigurationError("\(variable) '\(text)' is not 1/true/yes or 0/false/no")
            }
            return file?.boolean(key) ?? false
        }

        var configuration = AppConfiguration()
        if let host = value(host, "BERTH_HOST", "host") { configuration.host = host }
        if let port {
            configuration.port = port
        } else if let text = environmentValue("BERTH_PORT") {
            guard let port = Int(text) else { throw ConfigurationError("BERTH_PORT '\(text)' is not a port number") }
            configuration.port = port
        } else if let port = file?.integer("port") {
            configuration.port = port
        }
        guard (0...65535).contains(configuration.port) else {
            throw ConfigurationError("port \(configuration.port) is not between 0 and 65535")
        }
        if let database = value(database, "BERTH_DATABASE", "database") { configuration.databasePath = database }
        // DOCKER_HOST is the Docker clients' default: below Berth's own settings, the file's included.
        if let engine = value(engine, "BERTH_ENGINE", "engine") ?? environmentValue("DOCKER_HOST") {
            do {
                configuration.engineAddress = try EngineAddress(parsing: engine)
            } catch {
                throw ConfigurationError(error.description)
            }
        }
        if let forced = environmentValue("DOCKER_API_VERSION") {
            do {
                configuration.apiVersion = try APIVersion.forced(forced)
            } catch {
                throw ConfigurationError("\(error)")
            }
        }
        if let templates = value(templates, "BERTH_TEMPLATES", "templates") { configuration.templatesDirectory = templates }
        if let publicDirectory = value(publicDirectory, "BERTH_PUBLIC", "public") { configuration.publicDirectory = publicDirectory }
        if let level = value(logLevel, "BERTH_LOG_LEVEL", "log-level") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError("log level '\(level)' is not one of trace, debug, info, notice, warning, error, critical")
            }
            configuration.logLevel = parsed
        }
        if let service = value(pamService, "BERTH_PAM_SERVICE", "pam-service") { configuration.pam.service = service }
        if let pending = try number(maxPendingLogins, "BERTH_MAX_PENDING_LOGINS", "max-pending-logins", atLeast: 1) {
            configuration.pam.maxPendingLogins = pending
        }
        if let group = value(adminGroup, "BERTH_ADMIN_GROUP", "admin-group") { configuration.roleGroups.admin = group }
        if let group = value(operatorGroup, "BERTH_OPERATOR_GROUP", "operator-group") { configuration.roleGroups.operator = group }
        if let group = value(viewerGroup, "BERTH_VIEWER_GROUP", "viewer-group") { configuration.roleGroups.viewer = group }
        configuration.allowRoot = try boolean(allowRoot, "BERTH_ALLOW_ROOT", "allow-root")
        if let seconds = try number(sessionIdleTimeout, "BERTH_SESSION_IDLE_TIMEOUT", "session-idle-timeout", atLeast: 1) {
            configuration.sessions.idleTimeout = TimeInterval(seconds)
        }
        if let seconds = try number(sessionLifetime, "BERTH_SESSION_LIFETIME", "session-lifetime", atLeast: 1) {
            configuration.sessions.lifetime = TimeInterval(seconds)
        }
        configuration.sessions.secureCookies = try boolean(secureCookies, "BERTH_SECURE_COOKIES", "secure-cookies")
        switch (value(tlsCert, "BERTH_TLS_CERT", "tls-cert"), value(tlsKey, "BERTH_TLS_KEY", "tls-key")) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            configuration.tls = .init(certificatePath: certificate, keyPath: key)
            // Served over HTTPS itself: cookies must be Secure.
            configuration.sessions.secureCookies = true
        default:
            throw ConfigurationError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP behind a proxy")
        }
        configuration.trustedProxy = value(trustedProxy, "BERTH_TRUSTED_PROXY", "trusted-proxy")
        if let count = try number(loginMaxFailures, "BERTH_LOGIN_MAX_FAILURES", "login-max-failures", atLeast: 1) {
            configuration.throttle.maxConsecutiveFailures = count
        }
        if let seconds = try number(loginLockout, "BERTH_LOGIN_LOCKOUT", "login-lockout", atLeast: 1) {
            configuration.throttle.lockout = TimeInterval(seconds)
        }
        if let count = try number(loginMaxFailuresPerHour, "BERTH_LOGIN_MAX_FAILURES_PER_HOUR", "login-max-failures-per-hour", atLeast: 1) {
            configuration.throttle.maxFailuresPerHour = count
        }
        configuration.auditRetentionDays = try number(auditRetention, "BERTH_AUDIT_RETENTION", "audit-retention", atLeast: 1)
        if let seconds = try number(auditHeadInterval, "BERTH_AUDIT_HEAD_INTERVAL", "audit-head-interval", atLeast: 1) {
            configuration.auditHeadInterval = .seconds(seconds)
        }
        if let days = try number(shareLinkMaxDays, "BERTH_SHARE_LINK_MAX_DAYS", "share-link-max-days", atLeast: 1) {
            configuration.shareLinkMaxDays = days
        }
        if let count = try number(maxConnections, "BERTH_MAX_CONNECTIONS", "max-connections", atLeast: 1) {
            configuration.maxConnections = count
        }
        if let seconds = try number(headerTimeout, "BERTH_HEADER_TIMEOUT", "header-timeout", atLeast: 1) {
            configuration.headerTimeout = seconds
        }
        if let seconds = try number(keepaliveTimeout, "BERTH_KEEPALIVE_TIMEOUT", "keepalive-timeout", atLeast: 1) {
            configuration.keepAliveTimeout = seconds
        }
        if let count = try number(maxStreams, "BERTH_MAX_STREAMS", "max-streams", atLeast: 1) {
            configuration.streamLimits.total = count
        }
        if let count = try number(maxStreamsPerSession, "BERTH_MAX_STREAMS_PER_SESSION", "max-streams-per-session", atLeast: 1) {
            configuration.streamLimits.perSession = count
        }
        if let count = try number(maxStreamsPerLink, "BERTH_MAX_STREAMS_PER_LINK", "max-streams-per-link", atLeast: 1) {
            configuration.streamLimits.perLink = count
        }
        if let count = try number(maxEngineStreams, "BERTH_MAX_ENGINE_STREAMS", "max-engine-streams", atLeast: 2) {
            configuration.maxEngineStreams = count
        }
        return Resolved(configuration: configuration, file: file?.path)
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
