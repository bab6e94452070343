import EngineAPI
import Foundation

/// A private registry for one test: Debian's `docker-registry` with htpasswd auth on a loopback port, in its own
/// folder, stopped by `stop()`. The engine trusts 127.0.0.0/8 registries over plain HTTP by default.
public final class TestRegistry: @unchecked Sendable {
    public let address: String
    public let username = "berth-puller"
    public let password: String
    let process = Process()
    let directory: URL

    public init() throws {
        for tool in ["/usr/bin/docker-registry", "/usr/bin/htpasswd"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw TestSetupError("\(tool) is missing: run scripts/install-deps (docker-registry, apache2-utils)")
        }
        directory = try Repository.temporaryDirectory()
        password = "pw-\(UUID().uuidString.prefix(12))"
        let port = try LoopbackPort.free()
        address = "127.0.0.1:\(port)"
        try TestUsers.shell("htpasswd", "-Bbc", directory.appendingPathComponent("htpasswd").path, username, password)
        let config = """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(directory.appendingPathComponent("data").path)
            http:
              addr: \(address)
            auth:
              htpasswd:
                realm: berth-test
                path: \(directory.appendingPathComponent("htpasswd").path)
            """
        let configPath = directory.appendingPathComponent("config.yml")
        try Data(config.utf8).write(to: configPath)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", configPath.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until the registry answers (401 without credentials).
    public func waitUntilServing() async throws {
        for _ in 0..<100 {
            if (try? TestUsers.shell("curl", "-s", "-o", "/dev/null", "http://\(address)/v2/")) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("the test registry did not start on \(address)")
    }

    /// Pushes an image made for this push — busybox plus a layer of 3 MB of random bytes, so that a pull must
    /// download something the engine does not have — as `address/repository:tag` with the docker CLI (logged in
    /// with a config folder of its own), then removes it locally so that a pull has to fetch it.
    public func pushImage(as repository: String, tag: String) throws -> String {
        let engine = try TestEngine.address().description
        let reference = "\(address)/\(repository):\(tag)"
        let config = directory.appendingPathComponent("docker-config").path
        let docker = "docker -H \(engine)"
        try TestUsers.shell(
            "sh", "-c",
            """
            set -e
            printf '%s' "$0" | \(docker) --config \(config) login \(address) -u \(username) --password-stdin >/dev/null 2>&1
            c=$(\(docker) run -d --network none --label berth.test=1 busybox sh -c 'head -c 3000000 /dev/urandom > /blob')
            \(docker) wait "$c" >/dev/null
            \(docker) commit "$c" \(reference) >/dev/null
            \(docker) rm "$c" >/dev/null
            \(docker) --config \(config) push \(reference) >/dev/null
            \(docker) rmi \(reference) >/dev/null
            """,
            password
        )
        return reference
    }

    /// Pulls `reference` into the test engine with the docker CLI, logged in as `pushImage` left it.
    public func pull(_ reference: String) throws {
        let engine = try TestEngine.address().description
        let config = directory.appendingPathComponent("docker-config").path
        try TestUsers.shell("sh", "-c", "docker -H \(engine) --config \(config) pull \(reference) >/dev/null")
    }

    public func stop() {
        process.stopServer()
        try? FileManager.default.removeItem(at: directory)
    }
}
