import Foundation
import EngineAPI
import Logging
import NIOCore
import PAMAuth

/// Everything `berth serve` can be told, already resolved from flags, environment and defaults.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databasePath: String
    public var engineAddress: EngineAddress
    /// A forced Engine API version (`DOCKER_API_VERSION`); nil negotiates with the daemon.
    public var apiVersion: APIVersion?
    public var templatesDirectory: String
    public var publicDirectory: String
    public var logLevel: Logger.Level
    /// PAM service, pending-login bound, timeout (`--pam-service`).
    public var pam: PAMAuthenticator.Configuration
    /// Which unix groups grant which role.
    public var roleGroups: RoleGroups
    /// Whether root may sign in (`--allow-root`).
    public var allowRoot: Bool
    public var sessions: SessionConfiguration
    public var throttle: LoginThrottle.Configuration
    /// The reverse proxy whose `X-Forwarded-For`/`-Proto` are believed (`--trusted-proxy`).
    public var trustedProxy: String?
    /// How long a foreground run is waited for before its page says it is still running.
    public var foregroundWait: TimeAmount = .seconds(60)
    /// Serve HTTPS (and HTTP/2, negotiated by ALPN) with this certificate and key; nil serves plain HTTP/1.1.
    public var tls: TLSFiles?
    /// How often a quiet event stream gets a keep-alive comment and a look at its session.
    public var streamHeartbeat: Duration = .seconds(15)
    /// Messages one event stream may hold for a reader that falls behind; beyond that it gets a `gap`.
    public var streamBuffer: Int = 256
    /// Audit rows older than this many days are removed, as a whole prefix (`--audit-retention`); nil keeps them all.
    public var auditRetentionDays: Int?
    /// How often the newest audit hash is written to the server log, so that it exists outside the database.
    public var auditHeadInterval: Duration = .seconds(300)
    /// The longest a dashboard's share link may stay valid, in days (`--share-link-max-days`).
    public var shareLinkMaxDays: Int = 7
    /// How often a watched dashboard reads its status table again when no event said anything changed.
    public var dashboardRefresh: Duration = .seconds(30)
    /// Connections served at once before only signed-in people get answers (`--max-connections`).
    public var maxConnections: Int = 1000
    /// Seconds a new connection has to send a whole request head (`--header-timeout`).
    public var headerTimeout: Int = 10
    /// Seconds an idle keep-alive connection is kept for its next request (`--keepalive-timeout`).
    public var keepAliveTimeout: Int = 60
    /// Event streams open at once: in all, per session and per share link (`--max-streams`, `--max-streams-per-session`,
    /// `--max-streams-per-link`).
    public var streamLimits = StreamLimits()
    /// Log connections open to the engine at once (`--max-engine-streams`): one per followed container however many
    /// pages and dashboards show it, and one more for a moment while a page catches up; each is a connection and a
    /// descriptor in the daemon. At least 2.
    public var maxEngineStreams: Int = 512
    /// Seconds the overview of all engines waits for each one (`--engine-timeout`).
    public var engineTimeout: Int = 3
    /// Consoles into containers: their limits and the terminal library the page loads.
    public var console = ConsoleSettings()
    /// Jobs (pulls, …) running at once (`--max-jobs`); more wait their turn, queued.
    public var maxJobs: Int = 4
    /// The key file that seals stored secrets (saved registry passwords), `--secret-key-file`; nil: `berth.key` beside
    /// the database.
    public var secretKeyFile: String?
    /// Seconds between scheduled update checks of each tag running containers use (`--update-check-interval`); 0: none.
    public var updateCheckInterval: Int = 21600
    /// Whether alert channels may point at this machine or the link-local range (`--alerts-allow-local`).
    public var alertsAllowLocal = false
    /// PEM certificates alert channels trust beside the system's (`--alerts-ca-file`): a company CA for its mail relay
    /// or webhook receivers.
    public var alertsCAFile: String?
    /// TLS files for an engine on TCP, in the `DOCKER_CERT_PATH` layout (`ca.pem`, `cert.pem`, `key.pem`;
    /// `--engine-tls-dir`, or `DOCKER_CERT_PATH` when `DOCKER_TLS_VERIFY` is set); nil: plain TCP or a Unix socket.
    public var engineTLSDirectory: String?
    /// For an engine at `ssh://user@host`: the user's OpenSSH private key and the known_hosts file with the host's key
    /// (`--engine-ssh-key`, `--engine-known-hosts`).
    public var engineSSHKey: String?
    public var engineKnownHosts: String?
    /// Where compose projects live, a folder each (`--projects-dir`); nil: `projects` beside the database.
    public var projectsDirectory: String?
    /// Engines besides `local` (`[[engine]]` in the configuration file), in the file's order.
    public var engines: [EngineDefinition] = []
    /// The role groups of `local` of its own (an `[[engine]]` named `local`); none: the global groups.
    public var localEngineGroups = EngineGroups()

    /// Where the secret key file is.
    public var secretKeyPath: String {
        secretKeyFile ?? URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("berth.key").path
    }

    /// The engine of `--engine` and its files, as every other engine is described.
    public var localEngine: EngineDefinition {
        EngineDefinition(
            name: EngineDefinition.localName, address: engineAddress, tlsDirectory: engineTLSDirectory, sshKey: engineSSHKey,
            knownHosts: engineKnownHosts, groups: localEngineGroups
        )
    }

    /// An engine's SSH files read and checked; `engine` names it in the words (nil: the one of `--engine`).
    public static func loadSSH(key: String?, knownHosts: String?, for address: EngineAddress, engine: String?) throws -> EngineSSH.Loaded? {
        let keySetting = engine.map { "ssh-key of the engine '\($0)'" } ?? "--engine-ssh-key"
        let hostsSetting = engine.map { "known-hosts of the engine '\($0)'" } ?? "--engine-known-hosts"
        guard case .ssh = address else {
            if key != nil || knownHosts != nil {
                throw StartupError("\(key != nil ? keySetting : hostsSetting) is for an engine at ssh://user@host; \(address) is not one")
            }
            return nil
        }
        guard let key, let knownHosts else {
            throw StartupError("\(address) needs \(key == nil ? keySetting : hostsSetting): Berth signs in with a key only and trusts the host keys known_hosts lists")
        }
        do {
            return try EngineSSH(keyPath: key, knownHostsPath: knownHosts).load()
        } catch {
            throw StartupError("\(engine.map { "engine '\($0)'" } ?? "engine") SSH: \(error)")
        }
    }

    /// An engine's TLS files read and checked; `engine` names it in the words (nil: the one of `--engine`).
    public static func loadTLS(_ directory: String?, for address: EngineAddress, engine: String?) throws -> EngineTLS.Loaded? {
        guard let directory else { return nil }
        let setting = engine.map { "tls-dir of the engine '\($0)'" } ?? "--engine-tls-dir"
        guard case .tcp = address else {
            throw StartupError("\(setting) is for an engine on tcp://HOST:PORT; \(address) is not one")
        }
        do {
            return try EngineTLS(directory: directory).load()
        } catch {
            throw StartupError("\(engine.map { "engine '\($0)'" } ?? "engine") TLS: \(error)")
        }
    }

    /// Where the compose projects' folders are.
    public var projectsPath: String {
        projectsDirectory ?? URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("projects").path
    }

    public struct TLSFiles: Sendable {
        public var certificatePath: String
        public var keyPath: String

        public init(certificatePath: String, keyPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    public static let defaultDatabasePath = "/var/lib/berth/berth.sqlite"

    public init(
        host: String = "127.0.0.1", port: Int = 8080, databasePath: String = AppConfiguration.defaultDatabasePath,
        engineAddress: EngineAddress = .systemDefault, apiVersion: APIVersion? = nil,
        templatesDirectory: String = "Templates", publicDirectory: String = "Public", logLevel: Logger.Level = .info,
        pam: PAMAuthenticator.Configuration = .init(), roleGroups: RoleGroups = .init(), allowRoot: Bool = false,
        sessions: SessionConfiguration = .init(), throttle: LoginThrottle.Configuration = .init(), trustedProxy: String? = nil
    ) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.engineAddress = engineAddress
        self.apiVersion = apiVersion
        self.templatesDirectory = templatesDirectory
        self.publicDirectory = publicDirectory
        self.logLevel = logLevel
        self.pam = pam
        self.roleGroups = roleGroups
        self.allowRoot = allowRoot
        self.sessions = sessions
        self.throttle = throttle
        self.trustedProxy = trustedProxy
    }
}

/// A setting Berth cannot start with, described so that the operator knows which flag to change.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
