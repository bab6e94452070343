import EngineAPI
import Foundation
import Logging
import PAMAuth

/// One setting of `berth serve`, declared once: the command line (`--KEY`), the environment (`BERTH_KEY`), the
/// configuration file (`KEY = …`), `check-config`'s output and `--help` are all read off `ServeSetting.all`.
public struct ServeSetting: Sendable {
    public enum Kind: Sendable, Equatable {
        case text
        /// A whole number, at least this.
        case number(atLeast: Int)
        /// On or off; a flag given on the command line turns it on.
        case flag
    }

    public enum Value: Sendable, Equatable {
        case text(String)
        case number(Int)
        case flag(Bool)
    }

    /// The long option without `--`, and the file's key.
    public let key: String
    public let kind: Kind
    /// What `--help` says is the default when the default is unset (`none`, `keep forever`).
    let unsetText: String
    public let help: String
    /// Puts a value into the configuration; `source` names where it came from, for the error it may throw.
    let apply: @Sendable (_ value: Value, _ configuration: inout AppConfiguration, _ source: String) throws -> Void
    /// The value in effect, as `check-config` prints it; nil when unset.
    let current: @Sendable (AppConfiguration) -> Value?

    public var environment: String { "BERTH_" + key.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// The default as `--help` says it: read off a default `AppConfiguration`, so it can't drift from it.
    public var defaultText: String {
        switch current(in: AppConfiguration()) {
        case .text(let text)?: text
        case .number(let number)?: String(number)
        case .flag(let on)?: on ? "on" : "off"
        case nil: unsetText
        }
    }

    public func apply(_ value: Value, to configuration: inout AppConfiguration, source: String) throws {
        if case .number(let number) = value, case .number(let minimum) = kind, number < minimum {
            throw StartupError("\(source) must be at least \(minimum)")
        }
        try apply(value, &configuration, source)
    }

    public func current(in configuration: AppConfiguration) -> Value? { current(configuration) }

    /// A setting whose value is text.
    static func text(
        _ key: String, unset unsetText: String = "none", _ help: String,
        get: @escaping @Sendable (AppConfiguration) -> String?,
        set: @escaping @Sendable (inout AppConfiguration, String) throws -> Void
    ) -> ServeSetting {
        ServeSetting(
            key: key, kind: .text, unsetText: unsetText, help: help,
            apply: { value, configuration, _ in
                if case .text(let text) = value { try set(&configuration, text) }
            },
            current: { get($0).map(Value.text) }
        )
    }

    /// A setting whose value is a whole number of at least `minimum`.
    static func number(
        _ key: String, atLeast minimum: Int = 1, unset unsetText: String = "none", _ help: String,
        get: @escaping @Sendable (AppConfiguration) -> Int?, set: @escaping @Sendable (inout AppConfiguration, Int) -> Void
    ) -> ServeSetting {
        ServeSetting(
            key: key, kind: .number(atLeast: minimum), unsetText: unsetText, help: help,
            apply: { value, configuration, _ in
                if case .number(let number) = value { set(&configuration, number) }
            },
            current: { get($0).map(Value.number) }
        )
    }

    /// A setting that is on or off (off by default).
    static func flag(
        _ key: String, _ help: String,
        get: @escaping @Sendable (AppConfiguration) -> Bool, set: @escaping @Sendable (inout AppConfiguration, Bool) -> Void
    ) -> ServeSetting {
        ServeSetting(
            key: key, kind: .flag, unsetText: "off", help: help,
            apply: { value, configuration, _ in
                if case .flag(let on) = value { set(&configuration, on) }
            },
            current: { .flag(get($0)) }
        )
    }
}

extension ServeSetting {
    /// Every setting, in the order `--help`, `check-config` and README show them.
    public static let all: [ServeSetting] = [
        .text("host", "Address to listen on.", get: { $0.host }, set: { $0.host = $1 }),
        .number("port", atLeast: 0, "Port to listen on.", get: { $0.port }, set: { $0.port = $1 }),
        .text(
            "database", "SQLite file (its folder is created).",
            get: { $0.databasePath }, set: { $0.databasePath = $1 }
        ),
        .text(
            "engine",
            "Docker Engine address, unix:///path, tcp://host:port or ssh://user@host[:port] (DOCKER_HOST counts when this is set nowhere).",
            get: { $0.engineAddress.description },
            set: { configuration, text in
                do {
                    configuration.engineAddress = try EngineAddress(parsing: text)
                } catch {
                    throw StartupError("\(error)")
                }
            }
        ),
        .text(
            "engine-tls-dir", unset: "none (DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set)",
            "Folder with ca.pem, cert.pem and key.pem for an engine on tcp:// with --tlsverify (its certificate checked, Berth's presented).",
            get: { $0.engineTLSDirectory }, set: { $0.engineTLSDirectory = $1 }
        ),
        .text(
            "engine-ssh-key", unset: "none",
            "The OpenSSH private key (ed25519 or ECDSA, no passphrase, mode 600) Berth signs in with to an engine at ssh://user@host.",
            get: { $0.engineSSHKey }, set: { $0.engineSSHKey = $1 }
        ),
        .text(
            "engine-known-hosts", unset: "none",
            "known_hosts file holding the host key of an engine at ssh://; an unknown or changed key is refused.",
            get: { $0.engineKnownHosts }, set: { $0.engineKnownHosts = $1 }
        ),
        .text(
            "secret-key-file", unset: "berth.key beside the database",
            "Key that seals saved registry passwords (created 0600 when missing; keep it out of database backups).",
            get: { $0.secretKeyFile }, set: { $0.secretKeyFile = $1 }
        ),
        .text(
            "projects-dir", unset: "projects beside the database",
            "Folder of the compose projects, one folder each with compose.yaml and .env (each saved version is also in the database).",
            get: { $0.projectsDirectory }, set: { $0.projectsDirectory = $1 }
        ),
        .text("templates", "Folder of the Mustache templates.", get: { $0.templatesDirectory }, set: { $0.templatesDirectory = $1 }),
        .text("public", "Folder of the static files.", get: { $0.publicDirectory }, set: { $0.publicDirectory = $1 }),
        .text(
            "log-level", "Log level: trace, debug, info, notice, warning, error, critical.",
            get: { $0.logLevel.rawValue },
            set: { configuration, text in
                guard let level = Logger.Level(rawValue: text.lowercased()) else {
                    throw StartupError("log level '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
                }
                configuration.logLevel = level
            }
        ),
        .text("pam-service", "PAM service name, /etc/pam.d/<name>.", get: { $0.pam.service }, set: { $0.pam.service = $1 }),
        .text(
            "admin-group", "Unix group whose members are admins.",
            get: { $0.roleGroups.admin }, set: { $0.roleGroups.admin = $1 }
        ),
        .text(
            "operator-group", "Unix group whose members are operators.",
            get: { $0.roleGroups.operator }, set: { $0.roleGroups.operator = $1 }
        ),
        .text(
            "viewer-group", "Unix group whose members are viewers.",
            get: { $0.roleGroups.viewer }, set: { $0.roleGroups.viewer = $1 }
        ),
        .text(
            "console-group", "Unix group whose members may open consoles into containers (admins always may).",
            get: { $0.roleGroups.console }, set: { $0.roleGroups.console = $1 }
        ),
        .flag("allow-root", "Let root sign in.", get: { $0.allowRoot }, set: { $0.allowRoot = $1 }),
        .number(
            "session-idle-timeout", "Seconds of inactivity after which a session ends.",
            get: { Int($0.sessions.idleTimeout) }, set: { $0.sessions.idleTimeout = TimeInterval($1) }
        ),
        .number(
            "session-lifetime", "Seconds after sign-in at which a session ends.",
            get: { Int($0.sessions.lifetime) }, set: { $0.sessions.lifetime = TimeInterval($1) }
        ),
        .flag(
            "secure-cookies", "Mark cookies Secure and name the session cookie __Host-berth, as behind a TLS proxy.",
            get: { $0.sessions.secureCookies }, set: { $0.sessions.secureCookies = $1 }
        ),
        .text(
            "tls-cert", "PEM certificate (chain) to serve HTTPS and HTTP/2 with; needs tls-key.",
            get: { $0.tls?.certificatePath },
            set: { configuration, path in
                configuration.tls = .init(certificatePath: path, keyPath: configuration.tls?.keyPath ?? "")
            }
        ),
        .text(
            "tls-key", "PEM private key of tls-cert.",
            get: { $0.tls?.keyPath },
            set: { configuration, path in
                configuration.tls = .init(certificatePath: configuration.tls?.certificatePath ?? "", keyPath: path)
            }
        ),
        .text(
            "trusted-proxy", "Address of the reverse proxy whose X-Forwarded-For/-Proto are trusted.",
            get: { $0.trustedProxy }, set: { $0.trustedProxy = $1 }
        ),
        .number(
            "login-max-failures", "Consecutive failed sign-ins of one account from one address before a lockout.",
            get: { $0.throttle.maxConsecutiveFailures }, set: { $0.throttle.maxConsecutiveFailures = $1 }
        ),
        .number(
            "login-lockout", "Seconds such a lockout lasts.",
            get: { Int($0.throttle.lockout) }, set: { $0.throttle.lockout = TimeInterval($1) }
        ),
        .number(
            "login-max-failures-per-hour",
            "Failed sign-ins of one account per hour, from anywhere, before it is locked out.",
            get: { $0.throttle.maxFailuresPerHour }, set: { $0.throttle.maxFailuresPerHour = $1 }
        ),
        .number(
            "max-pending-logins", "Sign-ins waiting for PAM at once; more get 503.",
            get: { $0.pam.maxPendingLogins }, set: { $0.pam.maxPendingLogins = $1 }
        ),
        .number(
            "audit-retention", unset: "keep forever",
            "Remove audit rows older than this many days, oldest first, leaving a checkpoint.",
            get: { $0.auditRetentionDays }, set: { $0.auditRetentionDays = $1 }
        ),
        .number(
            "audit-head-interval", "Seconds between log lines that carry the newest audit hash.",
            get: { Int($0.auditHeadInterval.components.seconds) }, set: { $0.auditHeadInterval = .seconds($1) }
        ),
        .number(
            "share-link-max-days", "The longest a dashboard's share link may stay valid, in days.",
            get: { $0.shareLinkMaxDays }, set: { $0.shareLinkMaxDays = $1 }
        ),
        .number(
            "max-connections", "Connections served at once; past it only signed-in people get answers, others 503.",
            get: { $0.maxConnections }, set: { $0.maxConnections = $1 }
        ),
        .number(
            "header-timeout", "Seconds a new connection has to send a whole request head.",
            get: { $0.headerTimeout }, set: { $0.headerTimeout = $1 }
        ),
        .number(
            "keepalive-timeout", "Seconds an idle keep-alive connection waits for its next request.",
            get: { $0.keepAliveTimeout }, set: { $0.keepAliveTimeout = $1 }
        ),
        .number(
            "max-streams", "Live views (event streams) open at once in all; more get 503.",
            get: { $0.streamLimits.total }, set: { $0.streamLimits.total = $1 }
        ),
        .number(
            "max-streams-per-session", "Live views one session may have open; more get 429.",
            get: { $0.streamLimits.perSession }, set: { $0.streamLimits.perSession = $1 }
        ),
        .number(
            "max-streams-per-link", "Live views one share link may have open; more get 429.",
            get: { $0.streamLimits.perLink }, set: { $0.streamLimits.perLink = $1 }
        ),
        .number(
            "max-engine-streams", atLeast: 2,
            "Log connections open to the engine at once (one per followed container, shared by its pages); more wait for one to close.",
            get: { $0.maxEngineStreams }, set: { $0.maxEngineStreams = $1 }
        ),
        .number(
            "engine-timeout", atLeast: 1,
            "Seconds the overview waits for each engine; one slower is shown as unreachable and delays the page no longer.",
            get: { $0.engineTimeout }, set: { $0.engineTimeout = $1 }
        ),
        .number(
            "console-idle-timeout", atLeast: 1, "Seconds without a keystroke after which a console closes.",
            get: { $0.console.idleTimeout }, set: { $0.console.idleTimeout = $1 }
        ),
        .number(
            "console-max-duration", atLeast: 1, "Seconds a console may stay open, however busy.",
            get: { $0.console.maxDuration }, set: { $0.console.maxDuration = $1 }
        ),
        .number(
            "console-max-per-user", atLeast: 1, "Consoles one person may have open at once.",
            get: { $0.console.perUser }, set: { $0.console.perUser = $1 }
        ),
        .number(
            "console-max", atLeast: 1, "Consoles open at once, everyone's together.",
            get: { $0.console.total }, set: { $0.console.total = $1 }
        ),
        .number(
            "console-record-max", atLeast: 1,
            "KiB one console's recording may take (uncompressed); past it the rest is not recorded, and the recording says so.",
            get: { $0.console.recordMaxKiB }, set: { $0.console.recordMaxKiB = $1 }
        ),
        .number(
            "update-check-interval", atLeast: 0,
            "Seconds between checks of each running container's image tag for a newer image in its registry; 0 checks only on demand.",
            get: { $0.updateCheckInterval }, set: { $0.updateCheckInterval = $1 }
        ),
        .flag(
            "alerts-allow-local", "Let alert channels point at this machine or the link-local range (refused otherwise).",
            get: { $0.alertsAllowLocal }, set: { $0.alertsAllowLocal = $1 }
        ),
        .text(
            "alerts-ca-file", unset: "the system's trust store only",
            "PEM certificates alert channels (mail servers, webhooks over HTTPS) trust beside the system's.",
            get: { $0.alertsCAFile }, set: { $0.alertsCAFile = $1 }
        ),
        .number(
            "max-jobs", atLeast: 1, "Jobs (pulls) running at once; more wait their turn.",
            get: { $0.maxJobs }, set: { $0.maxJobs = $1 }
        ),
    ]

    /// The setting of a key (`port`), if Berth has one.
    public static func named(_ key: String) -> ServeSetting? { all.first { $0.key == key } }
}
