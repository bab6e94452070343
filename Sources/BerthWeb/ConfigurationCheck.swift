import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import PAMAuth

/// What `berth check-config` checks without starting the server: the folders, the database's folder, the TLS files,
/// the PAM service, the role groups, and whether the engine answers (a warning only: it may simply be down now).
///
/// Permissions are checked for the calling process, so run it as the account the service runs as.
public enum ConfigurationCheck {
    public struct Finding: Sendable, Equatable {
        public enum Severity: String, Sendable {
            case ok, warning, error
        }

        public let severity: Severity
        public let message: String
    }

    public static func run(_ configuration: AppConfiguration) async -> [Finding] {
        var findings: [Finding] = []
        func ok(_ message: String) { findings.append(Finding(severity: .ok, message: message)) }
        func warn(_ message: String) { findings.append(Finding(severity: .warning, message: message)) }
        func fail(_ message: String) { findings.append(Finding(severity: .error, message: message)) }
        let files = FileManager.default

        // Templates: the same check as at start.
        do {
            _ = try await PageRenderer.load(directory: configuration.templatesDirectory)
            ok("templates: the \(PageRenderer.requiredTemplates.count) required templates are in \(configuration.templatesDirectory)")
        } catch {
            fail("\(error)")
        }

        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: configuration.publicDirectory, isDirectory: &isDirectory), isDirectory.boolValue,
            files.isReadableFile(atPath: configuration.publicDirectory) {
            ok("public: \(configuration.publicDirectory) is a readable folder")
        } else {
            fail("public: \(configuration.publicDirectory) is not a readable folder (set public, --public or BERTH_PUBLIC)")
        }

        findings.append(databaseFinding(configuration.databasePath))
        findings.append(secretKeyFinding(configuration.secretKeyPath))

        if let tls = configuration.tls {
            do {
                _ = try serverBuilder(configuration, webSocketRouter: Router(context: BerthRequestContext.self))
                ok("tls: certificate \(tls.certificatePath) and key \(tls.keyPath) load")
                if let attributes = try? files.attributesOfItem(atPath: tls.keyPath),
                    let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
                    warn("tls: \(tls.keyPath) can be read by other accounts (mode \(String(mode, radix: 8))); chmod 600 it")
                }
            } catch {
                fail("tls: \(error)")
            }
        }

        if let caFile = configuration.alertsCAFile {
            do {
                let roots = try AlertSender.trustRoots(caFile)
                ok("alerts-ca-file: \(roots.count) certificate\(roots.count == 1 ? "" : "s") in \(caFile)")
            } catch {
                fail("\(error)")
            }
        }

        let pamFile = ["/etc/pam.d/", "/usr/lib/pam.d/"].map { $0 + configuration.pam.service }.first { files.fileExists(atPath: $0) }
        if let pamFile {
            ok("pam: service \(configuration.pam.service) is \(pamFile)")
        } else {
            fail("pam: no /etc/pam.d/\(configuration.pam.service): nobody can sign in (install deploy/pam.d/berth there)")
        }

        for (role, group) in [("admin", configuration.roleGroups.admin), ("operator", configuration.roleGroups.operator),
                              ("viewer", configuration.roleGroups.viewer)] {
            if getgrnam(group) != nil {
                ok("groups: \(role) group \(group) exists")
            } else {
                fail("groups: the \(role) group \(group) does not exist (groupadd --system \(group))")
            }
        }
        // Optional: without it, only admins open consoles.
        let consoleGroup = configuration.roleGroups.console
        if getgrnam(consoleGroup) != nil {
            ok("groups: console group \(consoleGroup) exists")
        } else {
            warn("groups: no console group \(consoleGroup): only admins can open consoles (groupadd --system \(consoleGroup) to let others)")
        }

        findings += await engineFindings(configuration)
        return findings
    }

    /// The secret key file: there and private (it is read as at start, so a bad one is an error here too), or to be
    /// created at start.
    static func secretKeyFinding(_ path: String) -> Finding {
        guard FileManager.default.fileExists(atPath: path) else {
            return Finding(severity: .ok, message: "secret key: \(path) will be created (0600) at start")
        }
        do {
            let key = try SecretKey.loadOrCreate(path: path)
            return Finding(severity: .ok, message: "secret key: \(path) is private (key id \(key.id))")
        } catch {
            return Finding(severity: .error, message: "secret key: \(error)")
        }
    }

    /// The database file must be writable, and so must its folder (SQLite writes `-wal` and `-shm` beside it); when
    /// neither exists yet, the nearest existing parent must let Berth create the folder.
    static func databaseFinding(_ path: String) -> Finding {
        let files = FileManager.default
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        if files.fileExists(atPath: path) {
            guard files.isWritableFile(atPath: path), files.isWritableFile(atPath: folder) else {
                return Finding(severity: .error, message: "database: \(path) or its folder is not writable by this account")
            }
            return Finding(severity: .ok, message: "database: \(path) is writable")
        }
        var parent = folder
        while !files.fileExists(atPath: parent), parent != "/", !parent.isEmpty {
            parent = (parent as NSString).deletingLastPathComponent
        }
        guard files.isWritableFile(atPath: parent) else {
            return Finding(severity: .error, message: "database: cannot create \(path): \(parent) is not writable by this account")
        }
        return Finding(severity: .ok, message: "database: \(path) will be created (\(parent) is writable)")
    }

    /// Each engine: its files read as at start (errors), and whether it answers (a warning: it may be down now).
    static func engineFindings(_ configuration: AppConfiguration) async -> [Finding] {
        let local = configuration.localEngine
        var findings: [Finding] = []
        for definition in [local] + configuration.engines {
            findings.append(await engineFinding(definition, configuration: configuration))
        }
        for definition in [local] + configuration.engines {
            for group in [definition.groups.admin, definition.groups.operator, definition.groups.viewer, definition.groups.console].compactMap({ $0 })
            where getgrnam(group) == nil {
                findings.append(Finding(severity: .warning, message: "engine \(definition.name): no group \(group): nobody has that role there"))
            }
        }
        return findings
    }

    static func engineFinding(_ definition: EngineDefinition, configuration: AppConfiguration) async -> Finding {
        var logger = Logger(label: "berth.check-config")
        logger.logLevel = .critical
        let label = definition.name == EngineDefinition.localName ? "engine" : "engine \(definition.name)"
        let tls: EngineTLS.Loaded?
        let ssh: EngineSSH.Loaded?
        do {
            (tls, ssh) = try definition.loadTransport()
        } catch {
            return Finding(severity: .error, message: "\(label): \(error)")
        }
        let engine = EngineClient(address: definition.address, tls: tls, ssh: ssh, apiVersion: configuration.apiVersion, logger: logger)
        let finding: Finding
        do {
            let ping = try await engine.ping()
            let version = ping.apiVersion.map { " (API \($0))" } ?? ""
            finding = Finding(severity: .ok, message: "\(label): \(definition.address) answers\(version)")
        } catch {
            finding = Finding(severity: .warning, message: "\(label): \(error)")
        }
        try? await engine.shutdown()
        return finding
    }
}
