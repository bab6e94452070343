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
    static let configuration = CommandConfiguration(abstract: "Serve the Berth web interface.", discussion: ServeOptions.settingsHelp)

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let configuration = try options.resolved()
        ReturnedMemory.configureAllocator()
        let descriptors = DescriptorLimit.raise()
        do {
            let logLevel = configuration.logLevel
            let app = try await buildApplication(configuration) {
                let released = StartupMemory.release()
                var logger = Logger(label: "berth")
                logger.logLevel = logLevel
                logger.debug("start-up pages given back", metadata: ["advised_bytes": "\(released)"])
                let needed = DescriptorLimit.needed(
                    maxConnections: configuration.maxConnections, maxStreams: configuration.streamLimits.total
                )
                if let descriptors, descriptors < needed {
                    logger.warning(
                        "the open-file limit is below what --max-connections and --max-streams may need: past it new connections are refused",
                        metadata: ["limit": "\(descriptors)", "needed": "\(needed)", "advice": "raise it (LimitNOFILE in the unit, ulimit -n) or lower the caps"]
                    )
                }
            }
            try await app.runService()
        } catch {
            // Start-up failures (database path, templates, a port in use) are the user's to fix: say what, no trace.
            FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The options of `serve` (and `check-config`), read off `ServeSetting.all`: for each setting `--KEY VALUE` (a bare
/// `--KEY` for on/off ones), else `BERTH_KEY`, else the configuration file's `KEY`, else the default.
struct ServeOptions: ParsableArguments {
    @Option(help: "Configuration file (env BERTH_CONFIG, default \(ConfigurationFile.defaultPath), which may be missing).")
    var config: String?

    @Argument(parsing: .allUnrecognized, help: .init("The settings below, each as --KEY VALUE.", valueName: "settings"))
    var settings: [String] = []

    /// `--help`'s list of the settings.
    static var settingsHelp: String {
        "SETTINGS (--KEY VALUE, env BERTH_KEY, or KEY in the configuration file):\n" + ServeSetting.all.map { setting in
            let value = switch setting.kind {
            case .text: " <text>"
            case .number: " <n>"
            case .flag: ""
            }
            return "  --\(setting.key)\(value)\n        \(setting.help) (env \(setting.environment), default \(setting.defaultText))"
        }.joined(separator: "\n")
    }

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

    /// The command line's settings by key: `--key value`, `--key=value`, or a bare `--key` for on/off ones.
    func commandLine() throws -> [String: ServeSetting.Value] {
        var values: [String: ServeSetting.Value] = [:]
        var remaining = settings[...]
        while let argument = remaining.popFirst() {
            guard argument.hasPrefix("--"), argument.count > 2 else { throw ConfigurationError("unexpected argument '\(argument)'") }
            var key = String(argument.dropFirst(2))
            var inline: String?
            if let equals = key.firstIndex(of: "=") {
                inline = String(key[key.index(after: equals)...])
                key = String(key[..<equals])
            }
            guard let setting = ServeSetting.named(key) else {
                throw ConfigurationError("unknown option '--\(key)'; see berth serve --help")
            }
            if setting.kind == .flag {
                guard inline == nil else { throw ConfigurationError("--\(key) takes no value") }
                values[key] = .flag(true)
                continue
            }
            guard let text = inline ?? remaining.popFirst() else { throw ConfigurationError("--\(key) needs a value") }
            values[key] = try Self.value(text, of: setting, source: "--\(key)")
        }
        return values
    }

    /// Text (from the command line or the environment) as the setting's kind of value.
    static func value(_ text: String, of setting: ServeSetting, source: String) throws -> ServeSetting.Value {
        switch setting.kind {
        case .text:
            return .text(text)
        case .number:
            guard let number = Int(text) else { throw ConfigurationError("\(source) '\(text)' is not a whole number") }
            return .number(number)
        case .flag:
            switch text.lowercased() {
            case "1", "true", "yes": return .flag(true)
            case "0", "false", "no": return .flag(false)
            default: throw ConfigurationError("\(source) '\(text)' is not 1/true/yes or 0/false/no")
            }
        }
    }

    func resolve(_ environment: [String: String]) throws -> Resolved {
        func environmentValue(_ variable: String) -> String? {
            environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        let namedFile = config ?? environmentValue("BERTH_CONFIG")
        let file = try ConfigurationFile.load(path: namedFile ?? ConfigurationFile.defaultPath, explicit: namedFile != nil)
        let flags = try commandLine()

        var configuration = AppConfiguration()
        // DOCKER_TLS_VERIFY and DOCKER_CERT_PATH go with DOCKER_HOST, as for the docker CLI: only for an engine from it.
        var engineFromDockerHost = false
        for setting in ServeSetting.all {
            let value: ServeSetting.Value
            let source: String
            if let flag = flags[setting.key] {
                (value, source) = (flag, "--\(setting.key)")
            } else if let text = environmentValue(setting.environment) {
                (value, source) = (try Self.value(text, of: setting, source: setting.environment), setting.environment)
            } else if let stored = file?.value(setting.key) {
                (value, source) = (stored, file?.source(setting.key) ?? setting.key)
            } else if setting.key == "engine", let dockerHost = environmentValue("DOCKER_HOST") {
                // The Docker clients' default: below Berth's own settings, the file's included.
                (value, source) = (.text(dockerHost), "DOCKER_HOST")
                engineFromDockerHost = true
            } else if setting.key == "engine-tls-dir", engineFromDockerHost, let verify = environmentValue("DOCKER_TLS_VERIFY"), !verify.isEmpty {
                // As the docker CLI: DOCKER_CERT_PATH, else ~/.docker.
                let home = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".docker").path
                (value, source) = (.text(environmentValue("DOCKER_CERT_PATH") ?? home), "DOCKER_TLS_VERIFY")
            } else {
                continue
            }
            do {
                try setting.apply(value, to: &configuration, source: source)
            } catch let error as StartupError {
                throw ConfigurationError(error.description)
            }
        }
        configuration.engines = file?.engines ?? []
        configuration.localEngineGroups = file?.localEngineGroups ?? EngineGroups()
        guard (0...65535).contains(configuration.port) else {
            throw ConfigurationError("port \(configuration.port) is not between 0 and 65535")
        }
        if let forced = environmentValue("DOCKER_API_VERSION") {
            do {
                configuration.apiVersion = try APIVersion.forced(forced)
            } catch {
                throw ConfigurationError("\(error)")
            }
        }
        if let tls = configuration.tls {
            guard !tls.certificatePath.isEmpty, !tls.keyPath.isEmpty else {
                throw ConfigurationError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP behind a proxy")
            }
            // Served over HTTPS itself: cookies must be Secure.
            configuration.sessions.secureCookies = true
        }
        return Resolved(configuration: configuration, file: file?.path)
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
