import ArgumentParser
import BerthWeb
import EngineAPI
import Foundation
import Hummingbird
import Logging

@main
struct BerthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A web administration server for Docker Engine.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}

/// `berth serve`: every option can also come from a `BERTH_*` environment variable; a flag wins over the environment.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the Berth web interface.")

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

    func run() async throws {
        let configuration: AppConfiguration
        do {
            configuration = try resolve(ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        do {
            let app = try await buildApplication(configuration)
            try await app.runService()
        } catch {
            // Start-up failures (database path, templates, a port in use) are the user's to fix: say what, no trace.
            FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func resolve(_ environment: [String: String]) throws -> AppConfiguration {
        func value(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        var configuration = AppConfiguration()
        if let host = value(host, "BERTH_HOST") { configuration.host = host }
        if let port {
            configuration.port = port
        } else if let text = environment["BERTH_PORT"], !text.isEmpty {
            guard let port = Int(text) else { throw ConfigurationError("BERTH_PORT '\(text)' is not a port number") }
            configuration.port = port
        }
        guard (0...65535).contains(configuration.port) else {
            throw ConfigurationError("port \(configuration.port) is not between 0 and 65535")
        }
        if let database = value(database, "BERTH_DATABASE") { configuration.databasePath = database }
        if let engine = value(engine, "BERTH_ENGINE") ?? environment["DOCKER_HOST"].flatMap({ $0.isEmpty ? nil : $0 }) {
            do {
                configuration.engineAddress = try EngineAddress(parsing: engine)
            } catch {
                throw ConfigurationError(error.description)
            }
        }
        if let forced = environment["DOCKER_API_VERSION"], !forced.isEmpty {
            do {
                configuration.apiVersion = try APIVersion.forced(forced)
            } catch {
                throw ConfigurationError("\(error)")
            }
        }
        if let templates = value(templates, "BERTH_TEMPLATES") { configuration.templatesDirectory = templates }
        if let publicDirectory = value(publicDirectory, "BERTH_PUBLIC") { configuration.publicDirectory = publicDirectory }
        if let level = value(logLevel, "BERTH_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError("log level '\(level)' is not one of trace, debug, info, notice, warning, error, critical")
            }
            configuration.logLevel = parsed
        }
        return configuration
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
