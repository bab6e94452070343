import EngineAPI
import Foundation
import NIOCore
import Testing
import TestSupport

/// The third private engine also has a private sshd (`BERTH_ENGINE_SSH=1 scripts/engine up`: its host key, a client
/// key in its authorized_keys and a known_hosts for it in its folder's `ssh/`), whose sessions reach that engine with
/// `docker system dial-stdio`. Berth reaches it as the docker CLI reaches `ssh://root@127.0.0.1:PORT`.
@Suite(.serialized) struct EngineSSHTests {
    struct SSHEngine {
        let port: Int
        /// `$DIR/ssh`: the sshd's files; `client/` holds `id_ed25519` and `known_hosts`.
        let folder: String

        var address: EngineAddress { .ssh(user: "root", host: "127.0.0.1", port: port) }
        var files: EngineSSH { EngineSSH(keyPath: folder + "/client/id_ed25519", knownHostsPath: folder + "/client/known_hosts") }
        /// The lines sshd logged so far (VERBOSE: one `Accepted publickey` per connection, one `Starting session` per
        /// session channel).
        func logCount(_ text: String) throws -> Int {
            // Its lines end in CR LF, one Character in Swift: split on any line break.
            try String(contentsOfFile: folder + "/sshd.log", encoding: .utf8).split(whereSeparator: \.isNewline).filter { $0.contains(text) }.count
        }
    }

    static func sshEngine() throws -> SSHEngine {
        let folder = (ProcessInfo.processInfo.environment["BERTH_ENGINE_DIR"] ?? "/tmp/berth-engine-3") + "/ssh"
        guard let text = try? String(contentsOfFile: folder + "/port", encoding: .utf8),
              let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestSetupError("no SSH engine: start it with BERTH_ENGINE_DIR=\(folder.dropLast(4)) BERTH_ENGINE_SSH=1 scripts/engine up")
        }
        return SSHEngine(port: port, folder: folder)
    }

    /// Runs `body` with a client of the engine over SSH and shuts it down afterwards, also when `body` throws.
    static func withClient<T: Sendable>(
        _ engine: SSHEngine, files: EngineSSH? = nil, port: Int? = nil, _ body: (EngineClient) async throws -> T
    ) async throws -> T {
        let address = EngineAddress.ssh(user: "root", host: "127.0.0.1", port: port ?? engine.port)
        return try await TestEngine.withClient(address: address, ssh: try (files ?? engine.files).load(), body)
    }

    /// The reason of an `EngineError.unreachable` that `body` throws within `limit` (nil: it threw something else, or
    /// nothing in time).
    static func unreachableReason(within limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async -> String? {
        let outcome = try? await EngineTLSTests.within(limit) { () -> String? in
            do {
                try await body()
                return nil
            } catch let EngineError.unreachable(_, reason) {
                return reason
            }
        }
        return outcome ?? nil
    }

    @Test func overSSHBerthNegotiatesListsRunsFollowsLogsAndEventsAndExecs() async throws {
        let engine = try Self.sshEngine()
        try await Self.withClient(engine) { client in
            let name = TestEngine.uniqueName("berth-ssh")
            do {
                #expect(try await client.ping().apiVersion != nil)
                #expect(try await client.apiVersion() >= .minimum)
                #expect(try await client.version().apiVersion != nil)
                let events = try await client.events(filters: ["container": [name]])
                let created = try await client.createContainer(
                    ContainerCreateRequest(
                        image: "busybox:latest",
                        cmd: ["sh", "-c", "echo over ssh; trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done"],
                        labels: [TestEngine.label: "1"], hostConfig: .init(networkMode: "none")
                    ),
                    name: name
                )
                _ = try await client.startContainer(created.id)
                #expect(try await client.listContainers(all: true).contains { $0.id == created.id })
                // Its create and start, on the events stream (a session of its own, held open).
                let actions = try await EngineTLSTests.within(.seconds(20)) {
                    var seen: [String] = []
                    for try await event in events where event.action == "create" || event.action == "start" {
                        seen.append(event.action ?? "")
                        if seen.count == 2 { break }
                    }
                    return seen
                }
                #expect(actions == ["create", "start"])
                // Its logs, followed on a connection of its own: the first line, then lines that came later.
                let logs = try await client.containerLogs(created.id, options: LogOptions(follow: true))
                let followed = try await EngineTLSTests.within(.seconds(20)) {
                    var text = ""
                    for try await frame in logs {
                        text += String(buffer: frame.payload)
                        if text.components(separatedBy: "tick").count > 4 { break }
                    }
                    return text
                }
                #expect(followed?.hasPrefix("over ssh\ntick\n") == true, "\(String(describing: followed))")
                // An exec, attached both ways over the upgraded connection: its input reaches it, its output comes back.
                let exec = try await client.createExec(in: created.id, options: ExecOptions(command: ["sh", "-c", "read line; echo got $line"], tty: false))
                let session = try await client.startExec(exec, tty: false)
                try await session.send(ByteBuffer(string: "through ssh\n"))
                await session.finishInput()
                let output = try await EngineTLSTests.within(.seconds(20)) {
                    var output = ""
                    for try await chunk in session.output { output += String(buffer: chunk) }
                    return output
                }
                #expect(output?.contains("got through ssh") == true, "\(String(describing: output))")
                var exitCode: Int?
                for _ in 0..<20 where exitCode == nil {
                    exitCode = try await client.inspectExec(exec).exitCode
                    if exitCode == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(exitCode == 0)
                _ = try await client.stopContainer(created.id, timeout: 5)
                try await client.removeContainer(created.id, force: true)
            } catch {
                try? await client.removeContainer(name, force: true)
                throw error
            }
        }
    }

    @Test func parallelRequestsEachHaveASessionOfTheirOwnOnAsFewConnectionsAsTheHostAllows() async throws {
        let engine = try Self.sshEngine()
        let connectionsBefore = try engine.logCount("Accepted publickey")
        let sessionsBefore = try engine.logCount("Starting session")
        try await Self.withClient(engine) { client in
            let name = TestEngine.uniqueName("berth-ssh")
            let created = try await client.createContainer(
                ContainerCreateRequest(
                    image: "busybox:latest", cmd: ["sh", "-c", "trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done"],
                    labels: [TestEngine.label: "1"], hostConfig: .init(networkMode: "none")
                ),
                name: name
            )
            // Six followed logs open at once (each a connection, so a session, of its own), and lists beside them.
            let streams: [Bool]
            do {
                _ = try await client.startContainer(created.id)
                streams = try await Self.parallelReads(client, container: created.id)
            } catch {
                try? await client.removeContainer(created.id, force: true)
                throw error
            }
            #expect(streams == Array(repeating: true, count: 12))
            try await client.removeContainer(created.id, force: true)
        }
        // Twelve sessions at once: sshd allows ten on a connection (MaxSessions), so a second connection carries the rest.
        // sshd's connection processes write their log lines when they end, a moment after the client closed.
        var connections = 0, sessions = 0
        for _ in 0..<50 where connections < 2 || sessions < 12 {
            try await Task.sleep(for: .milliseconds(100))
            connections = try engine.logCount("Accepted publickey") - connectionsBefore
            sessions = try engine.logCount("Starting session") - sessionsBefore
        }
        #expect(connections == 2, "\(connections) connections for \(sessions) sessions")
        #expect(sessions >= 12, "\(connections) connections for \(sessions) sessions")
    }

    static func parallelReads(_ client: EngineClient, container: String) async throws -> [Bool] {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let logs = try await client.containerLogs(container, options: LogOptions(follow: true), tty: false)
                    for try await frame in logs where String(buffer: frame.payload).contains("tick") { return true }
                    return false
                }
            }
            for _ in 0..<6 {
                group.addTask { try await client.listContainers(all: true).contains { $0.id == container } }
            }
            var results: [Bool] = []
            for try await result in group { results.append(result) }
            return results
        }
    }

    @Test func aHostPresentingAnotherKeyIsRefusedSayingTheKeyChanged() async throws {
        let engine = try Self.sshEngine()
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let other = try OpenSSHKeyTests.keygen("-t", "ed25519", "-N", "")
        defer { try? FileManager.default.removeItem(at: other.folder) }
        let knownHosts = folder.appendingPathComponent("known_hosts").path
        try "[127.0.0.1]:\(engine.port) \(try String(contentsOfFile: other.key + ".pub", encoding: .utf8))"
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        // What ssh-keygen shows for the host's real key: the words must name it.
        let fingerprint = try TestUsers.shell(["ssh-keygen", "-l", "-f", engine.folder + "/host_ed25519_key.pub"]).split(separator: " ")[1]
        let files = EngineSSH(keyPath: engine.files.keyPath, knownHostsPath: knownHosts)
        let reason = try await Self.withClient(engine, files: files) { client in
            await Self.unreachableReason(within: .seconds(15)) { _ = try await client.ping() }
        }
        #expect(reason?.contains("the host key of [127.0.0.1]:\(engine.port) has changed") == true, "\(String(describing: reason))")
        #expect(reason?.contains("ED25519 key \(fingerprint)") == true, "\(String(describing: reason))")
    }

    @Test func aHostNotInKnownHostsIsRefusedSayingSo() async throws {
        let engine = try Self.sshEngine()
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // The host's own key, but listed for another port only.
        let knownHosts = folder.appendingPathComponent("known_hosts").path
        let line = try String(contentsOfFile: engine.files.knownHostsPath, encoding: .utf8)
        try line.replacingOccurrences(of: "]:\(engine.port) ", with: "]:\(engine.port == 1 ? 2 : 1) ")
            .write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let files = EngineSSH(keyPath: engine.files.keyPath, knownHostsPath: knownHosts)
        let reason = try await Self.withClient(engine, files: files) { client in
            // Every kind of call gives the reason: a request, and a stream on a connection of its own.
            let request = await Self.unreachableReason(within: .seconds(15)) { _ = try await client.ping() }
            let stream = await Self.unreachableReason(within: .seconds(15)) {
                _ = try await client.containerLogs("none", options: LogOptions(follow: true), tty: false)
            }
            #expect(stream == request)
            return request
        }
        #expect(reason?.contains("the host key of [127.0.0.1]:\(engine.port) is not in \(knownHosts)") == true, "\(String(describing: reason))")
        #expect(reason?.contains("ssh-keyscan -p \(engine.port) 127.0.0.1") == true, "\(String(describing: reason))")
    }

    @Test func aUserKeyNotInAuthorizedKeysIsRefused() async throws {
        let engine = try Self.sshEngine()
        let stranger = try OpenSSHKeyTests.keygen("-t", "ecdsa", "-b", "384", "-N", "")
        defer { try? FileManager.default.removeItem(at: stranger.folder) }
        let files = EngineSSH(keyPath: stranger.key, knownHostsPath: engine.files.knownHostsPath)
        let reason = try await Self.withClient(engine, files: files) { client in
            await Self.unreachableReason(within: .seconds(15)) { _ = try await client.listContainers() }
        }
        #expect(reason?.contains("refused the key \(stranger.key)") == true, "\(String(describing: reason))")
        #expect(reason?.contains("authorized_keys") == true, "\(String(describing: reason))")
    }

    @Test func aPortWithNothingListeningFailsAtOnce() async throws {
        let engine = try Self.sshEngine()
        let started = ContinuousClock.now
        let reason = try await Self.withClient(engine, port: try LoopbackPort.free()) { client in
            await Self.unreachableReason(within: .seconds(15)) { _ = try await client.ping() }
        }
        #expect(reason?.contains("connection refused") == true, "\(String(describing: reason))")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func aHostThatAcceptsButNeverSpeaksSSHFailsWithinTheConnectTimeout() async throws {
        let engine = try Self.sshEngine()
        // A listener that takes the connection and says nothing, as a wedged host would.
        let silent = Process()
        silent.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        silent.arguments = [
            "python3", "-c",
            "import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\nprint(s.getsockname()[1], flush=True)\nc = s.accept(); time.sleep(60)",
        ]
        let output = Pipe()
        silent.standardOutput = output
        try silent.run()
        defer { silent.terminate() }
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        let port = try #require(Int(line.trimmingCharacters(in: .whitespacesAndNewlines)))
        let started = ContinuousClock.now
        let reason = try await Self.withClient(engine, port: port) { client in
            await Self.unreachableReason(within: .seconds(30)) { _ = try await client.ping() }
        }
        #expect(reason?.contains("did not complete the SSH handshake within 8 s") == true, "\(String(describing: reason))")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aCommandThatFailsOnTheHostIsNamedWithItsErrors() async throws {
        let engine = try Self.sshEngine()
        // A key whose sessions run, whatever is asked, what a host without docker would: the shell's complaint.
        let key = try OpenSSHKeyTests.keygen("-t", "ed25519", "-N", "")
        defer { try? FileManager.default.removeItem(at: key.folder) }
        let authorized = engine.folder + "/authorized_keys"
        let original = try String(contentsOfFile: authorized, encoding: .utf8)
        let forced = "command=\"echo 'sh: 1: docker: not found' >&2; exit 127\" " + (try String(contentsOfFile: key.key + ".pub", encoding: .utf8))
        try (original + forced).write(toFile: authorized, atomically: false, encoding: .utf8)
        defer { try? original.write(toFile: authorized, atomically: false, encoding: .utf8) }
        let files = EngineSSH(keyPath: key.key, knownHostsPath: engine.files.knownHostsPath)
        let reason = try await Self.withClient(engine, files: files) { client in
            await Self.unreachableReason(within: .seconds(15)) { _ = try await client.ping() }
        }
        #expect(reason?.contains("`docker system dial-stdio` failed on the host (exit status 127): sh: 1: docker: not found") == true, "\(String(describing: reason))")
    }

    /// The key's and known_hosts' contents rather than their paths (an engine added in the browser, whose key Berth
    /// keeps sealed): the engine answers as through the files.
    @Test func theKeysContentsServeAsWellAsItsFile() async throws {
        let engine = try Self.sshEngine()
        let loaded = try EngineSSH.load(
            key: try String(contentsOfFile: engine.files.keyPath, encoding: .utf8),
            knownHosts: try String(contentsOfFile: engine.files.knownHostsPath, encoding: .utf8),
            keySource: "of the engine 'ssh'", knownHostsSource: "the engine 'ssh'"
        )
        let version = try await TestEngine.withClient(address: engine.address, ssh: loaded) { client in
            try await EngineTLSTests.within(.seconds(15)) { try await client.apiVersion() }
        }
        #expect(version != nil)
        #expect {
            _ = try EngineSSH.load(key: "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n", knownHosts: "", keySource: "of the engine 'ssh'", knownHostsSource: "the engine 'ssh'")
        } throws: { "\($0)".contains("the SSH private key of the engine 'ssh'") }
    }
}
