import EngineAPI
import Foundation
import Logging

/// The real Docker Engine the tests run against: the one `DOCKER_HOST` names, as `scripts/test` sets it after
/// starting a private engine with `scripts/engine up`.
public enum TestEngine {
    /// Every container a test creates carries this label, so leftovers of an aborted run can be found and removed.
    public static let label = "berth.test"

    /// The engine's address; a missing `DOCKER_HOST` is a set-up error, not a reason to skip.
    public static func address() throws -> EngineAddress {
        guard let host = ProcessInfo.processInfo.environment["DOCKER_HOST"], !host.isEmpty else {
            throw TestSetupError("DOCKER_HOST is not set: run the tests with scripts/test, which starts a private engine")
        }
        return try EngineAddress(parsing: host)
    }

    /// Runs `body` with a client of the test engine (or of `address`) and shuts the client down afterwards, also
    /// when `body` throws.
    @discardableResult
    public static func withClient<Value: Sendable>(
        address: EngineAddress? = nil,
        ssh: EngineSSH.Loaded? = nil,
        apiVersion: APIVersion? = nil,
        logger: Logger = Logger(label: "berth.test.engine"),
        _ body: (EngineClient) async throws -> Value
    ) async throws -> Value {
        let client = EngineClient(address: try address ?? Self.address(), ssh: ssh, apiVersion: apiVersion, logger: logger)
        do {
            let value = try await body(client)
            try await client.shutdown()
            return value
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Runs `body` with a client and a scope whose containers are force-removed afterwards, whatever happens.
    @discardableResult
    public static func withContainers<Value: Sendable>(
        _ body: (EngineClient, ContainerScope) async throws -> Value
    ) async throws -> Value {
        try await withClient { client in
            let scope = ContainerScope(client: client)
            do {
                let value = try await body(client, scope)
                await scope.removeAll()
                return value
            } catch {
                await scope.removeAll()
                throw error
            }
        }
    }

    /// A name no other test (or earlier run) uses.
    public static func uniqueName(_ prefix: String = "berth-test") -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// Creates busybox containers for one test and removes them when the test ends.
public actor ContainerScope {
    let client: EngineClient
    private(set) var ids: [String] = []

    public init(client: EngineClient) {
        self.client = client
    }

    /// Creates (and by default starts) a busybox container without network, labelled as a test container.
    @discardableResult
    public func busybox(
        _ command: [String], name: String? = nil, tty: Bool = false, labels: [String: String] = [:], start: Bool = true,
        logConfig: LogConfig? = nil, restartPolicy: RestartPolicy? = nil
    ) async throws -> String {
        var allLabels = labels
        allLabels[TestEngine.label] = "1"
        let created = try await client.createContainer(
            ContainerCreateRequest(
                image: "busybox:latest", cmd: command, labels: allLabels, tty: tty,
                hostConfig: .init(networkMode: "none", restartPolicy: restartPolicy, logConfig: logConfig)
            ),
            name: name ?? TestEngine.uniqueName()
        )
        ids.append(created.id)
        if start { try await client.startContainer(created.id) }
        return created.id
    }

    /// Adopts a container created elsewhere so that it is removed with the others.
    public func adopt(_ id: String) {
        ids.append(id)
    }

    public func removeAll() async {
        for id in ids {
            try? await client.removeContainer(id, force: true)
        }
        ids.removeAll()
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Paths of the repository, for tests that need `Templates/` and `Public/`.
public enum Repository {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TestSupport
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    public static var templates: String { root.appendingPathComponent("Templates").path }
    public static var publicFolder: String { root.appendingPathComponent("Public").path }

    /// A fresh folder for one test's files.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("berth-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
