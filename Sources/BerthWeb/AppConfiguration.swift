import EngineAPI
import Logging

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

    public static let defaultDatabasePath = "/var/lib/berth/berth.sqlite"

    public init(
        host: String = "127.0.0.1", port: Int = 8080, databasePath: String = AppConfiguration.defaultDatabasePath,
        engineAddress: EngineAddress = .systemDefault, apiVersion: APIVersion? = nil,
        templatesDirectory: String = "Templates", publicDirectory: String = "Public", logLevel: Logger.Level = .info
    ) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.engineAddress = engineAddress
        self.apiVersion = apiVersion
        self.templatesDirectory = templatesDirectory
        self.publicDirectory = publicDirectory
        self.logLevel = logLevel
    }
}
