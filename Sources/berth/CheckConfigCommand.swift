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
        discussion: "Run it as the account the service runs as (sudo -u berth berth check-config): permissions are checked for the caller.\n\n"
            + ServeOptions.settingsHelp
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
        let configuration = resolved.configuration
        // With several engines, `local` is an `[[engine]]` table too: a key can't be both a string and a table list.
        let tables = configuration.engines.isEmpty && configuration.localEngineGroups == EngineGroups() ? []
            : [configuration.localEngine] + configuration.engines
        for (key, value) in Self.describe(configuration) where tables.isEmpty || !["engine", "engine-tls-dir", "engine-ssh-key", "engine-known-hosts"].contains(key) {
            print("\(key) = \(value)")
        }
        for engine in tables {
            print("\n[[engine]]")
            for (key, value) in Self.describe(engine) { print("\(key) = \(value)") }
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

    /// An `[[engine]]` table's lines.
    static func describe(_ engine: EngineDefinition) -> [(String, String)] {
        [("name", engine.name), ("address", engine.address.description), ("tls-dir", engine.tlsDirectory), ("ssh-key", engine.sshKey),
         ("known-hosts", engine.knownHosts),
         ("admin-group", engine.groups.admin), ("operator-group", engine.groups.operator), ("viewer-group", engine.groups.viewer),
         ("console-group", engine.groups.console)]
            .compactMap { key, value in value.map { (key, quoted($0)) } }
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The settings as TOML lines, in the file's key names, so that the output can become a file; unset ones are left out.
    static func describe(_ configuration: AppConfiguration) -> [(String, String)] {
        ServeSetting.all.compactMap { setting in
            switch setting.current(in: configuration) {
            case .text(let text)?:
                (setting.key, "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"")
            case .number(let number)?: (setting.key, String(number))
            case .flag(let on)?: (setting.key, String(on))
            case nil: nil
            }
        }
    }
}
