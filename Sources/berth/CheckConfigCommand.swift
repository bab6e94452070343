import ArgumentParser
import BerthWeb
import EngineAPI
import Foundation
import Logging
import PAMAuth

/// `berth check-config`: prints the configuration `serve` would run with and checks what can be checked without
/// starting. Errors (exit 1) are what would stop Berth or sign-in; an engine that does not answer is only a warning.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Print the resolved configuration and check it without starting the server.",
        discussion: "Run it as the account the service runs as (sudo -u berth berth check-config): permissions are checked for the caller."
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let resolved: ServeOptions.Resolved
        do {
            resolved = try options.resolve(ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            print("error: \(error.description)")
            throw ExitCode(1)
        }
        print("# configuration file: \(resolved.file ?? "none")")
        // Settings only, and nothing in them is secret: the TLS key is a path, credentials never live here.
        for (key, value) in Self.describe(resolved.configuration) {
            print("\(key) = \(value)")
        }
        print("")
        let findings = await ConfigurationCheck.run(resolved.configuration)
        for finding in findings {
            print("\(finding.severity.rawValue): \(finding.message)")
        }
        let errors = findings.filter { $0.severity == .error }.count
        let warnings = findings.filter { $0.severity == .warning }.count
        print("\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
        if errors > 0 { throw ExitCode(1) }
    }

    /// The settings as TOML lines, in the file's key names, so that the output can become a file.
    static func describe(_ configuration: AppConfiguration) -> [(String, String)] {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines: [(String, String)] = [
            ("host", quoted(configuration.host)),
            ("port", String(configuration.port)),
            ("database", quoted(configuration.databasePath)),
            ("engine", quoted(configuration.engineAddress.description)),
            ("templates", quoted(configuration.templatesDirectory)),
            ("public", quoted(configuration.publicDirectory)),
            ("log-level", quoted(configuration.logLevel.rawValue)),
            ("pam-service", quoted(configuration.pam.service)),
            ("admin-group", quoted(configuration.roleGroups.admin)),
            ("operator-group", quoted(configuration.roleGroups.operator)),
            ("viewer-group", quoted(configuration.roleGroups.viewer)),
            ("allow-root", String(configuration.allowRoot)),
            ("session-idle-timeout", String(Int(configuration.sessions.idleTimeout))),
            ("session-lifetime", String(Int(configuration.sessions.lifetime))),
            ("secure-cookies", String(configuration.sessions.secureCookies)),
        ]
        if let tls = configuration.tls {
            lines += [("tls-cert", quoted(tls.certificatePath)), ("tls-key", quoted(tls.keyPath))]
        }
        if let proxy = configuration.trustedProxy { lines.append(("trusted-proxy", quoted(proxy))) }
        lines += [
            ("login-max-failures", String(configuration.throttle.maxConsecutiveFailures)),
            ("login-lockout", String(Int(configuration.throttle.lockout))),
            ("login-max-failures-per-hour", String(configuration.throttle.maxFailuresPerHour)),
            ("max-pending-logins", String(configuration.pam.maxPendingLogins)),
        ]
        if let days = configuration.auditRetentionDays { lines.append(("audit-retention", String(days))) }
        lines.append(("audit-head-interval", String(configuration.auditHeadInterval.components.seconds)))
        lines.append(("share-link-max-days", String(configuration.shareLinkMaxDays)))
        lines += [
            ("max-connections", String(configuration.maxConnections)),
            ("header-timeout", String(configuration.headerTimeout)),
            ("keepalive-timeout", String(configuration.keepAliveTimeout)),
            ("max-streams", String(configuration.streamLimits.total)),
            ("max-streams-per-session", String(configuration.streamLimits.perSession)),
            ("max-streams-per-link", String(configuration.streamLimits.perLink)),
            ("max-engine-streams", String(configuration.maxEngineStreams)),
        ]
        return lines
    }
}
