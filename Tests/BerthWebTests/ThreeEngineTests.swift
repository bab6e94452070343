@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// One Berth, three real engines, three transports: `local` on the first private engine's Unix socket, `tls` the
/// second's TCP port with client certificates, `ssh` the third through its private sshd. scripts/test runs this in the
/// turn of the suites over SSH (the third engine is `BERTH_ENGINE_DIR` then).
@Suite(.serialized) struct ThreeEngineTests {
    struct Engines {
        let first: String
        let tlsPort: Int
        let tlsClient: String
        let ssh: EngineSSHFolder

        /// Direct clients of each daemon's own socket, to make and inspect what the test works on.
        func sockets() -> [String: EngineClient] {
            [
                "local": EngineClient(address: .unix(path: first + "/docker.sock")),
                "tls": EngineClient(address: .unix(path: "/tmp/berth-engine-2/docker.sock")),
                "ssh": EngineClient(address: .unix(path: ssh.engineFolder + "/docker.sock")),
            ]
        }

        func configure(_ configuration: inout AppConfiguration) {
            configuration.engineAddress = .unix(path: first + "/docker.sock")
            configuration.engines = [
                EngineDefinition(name: "tls", address: .tcp(host: "127.0.0.1", port: tlsPort), tlsDirectory: tlsClient),
                EngineDefinition(name: "ssh", address: ssh.address, sshKey: ssh.key, knownHosts: ssh.knownHosts),
            ]
            configuration.engineTimeout = 3
        }
    }

    struct EngineSSHFolder {
        let engineFolder: String
        let port: Int
        var address: EngineAddress { .ssh(user: "root", host: "127.0.0.1", port: port) }
        var key: String { engineFolder + "/ssh/client/id_ed25519" }
        var knownHosts: String { engineFolder + "/ssh/client/known_hosts" }
    }

    static func engines() throws -> Engines {
        let environment = ProcessInfo.processInfo.environment
        let third = environment["BERTH_ENGINE_DIR"] ?? "/tmp/berth-engine-3"
        func port(_ file: String) throws -> Int {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw TestSetupError("no \(file): start the engines as scripts/test does (the second with BERTH_ENGINE_TLS=1, the third with BERTH_ENGINE_SSH=1)")
            }
            return port
        }
        return Engines(
            first: environment["BERTH_FIRST_ENGINE_DIR"] ?? "/tmp/berth-engine", tlsPort: try port("/tmp/berth-engine-2/tls/port"),
            tlsClient: "/tmp/berth-engine-2/tls/client", ssh: EngineSSHFolder(engineFolder: third, port: try port(third + "/ssh/port"))
        )
    }

    @Test func berthListsActsFollowsLogsAndEventsOnEachTransport() async throws {
        let engines = try Self.engines()
        let sockets = engines.sockets()
        defer { Task { for client in sockets.values { try? await client.shutdown() } } }
        let tag = UUID().uuidString.prefix(8).lowercased()
        var ids: [String: String] = [:]
        do {
            for (name, client) in sockets {
                let created = try await client.createContainer(
                    ContainerCreateRequest(
                        image: "busybox:latest", cmd: ["sh", "-c", "echo hello from \(name); sleep 300"], labels: ["berth.test": "1"],
                        hostConfig: .init(networkMode: "none")
                    ),
                    name: "three-\(name)-\(tag)"
                )
                try await client.startContainer(created.id)
                ids[name] = created.id
            }
            let ids = ids
            try await withLiveStreamApp(configure: engines.configure) { live in
                let operatorBrowser = try await signIn(live.client, as: "bt-operator")
                // The overview: every engine up, each container on its engine.
                let overview = try await live.client.execute(uri: "/?name=three-", method: .get, headers: [.cookie: operatorBrowser.cookie])
                #expect(overview.status == .ok)
                for name in ["local", "tls", "ssh"] {
                    #expect(overview.text.contains("data-engine=\"\(name)\""))
                    #expect(overview.text.contains("href=\"/engines/\(name)/containers/\(ids[name]!)\""), "\(name)'s container in the list")
                }
                #expect(!overview.text.contains("unreachable") && !overview.text.contains("did not answer"), "\(overview.text)")

                let events = try await live.open("/events/all/stream?type=container&action=die", as: operatorBrowser)
                defer { events.close() }
                #expect(await eventually(.seconds(10)) { live.streams.engines.all.allSatisfy { $0.events.activeTopics == 1 } })
                for (name, id) in ids {
                    // The log follows over the engine's own transport.
                    let logs = try await live.open("/engines/\(name)/logs/stream?container=\(id)", as: operatorBrowser)
                    let (lines, _) = await collectLines(logs) { seen in seen.contains { $0.text.contains("hello from \(name)") } }
                    logs.close()
                    #expect(lines.contains { $0.text.contains("hello from \(name)") }, "\(name): \(lines)")
                    // An action, its redirect on the engine, and its row naming the engine.
                    let stop = try await post(live.client, operatorBrowser, "/engines/\(name)/containers/\(id)/stop", [("timeout", "0")])
                    #expect(stop.headers[.location] == "/engines/\(name)/containers/\(id)")
                    #expect(try await sockets[name]!.inspectContainer(id).state?.running == false, "\(name)")
                }
                var died: Set<String> = []
                while died.count < 3, let event = await events.next("event", timeout: .seconds(15)) {
                    if let id = event.found.json?["id"] as? String, ids.values.contains(id) {
                        died.insert(event.found.json?["engine"] as? String ?? "none")
                    }
                }
                #expect(died == ["local", "tls", "ssh"], "the events of every engine, each named")
                let rows = try await live.app.auditEvents().filter { $0.action == "container.stop" }
                #expect(Set(rows.compactMap(\.engine)) == ["local", "tls", "ssh"])
            }
        } catch {
            await Self.remove(ids, sockets)
            throw error
        }
        await Self.remove(ids, sockets)
    }

    /// A stalled engine (its daemon stopped with SIGSTOP: its sessions are taken and nothing answers) is marked
    /// unreachable on the overview within the timeout, and the other engines' pages stay fast; an engine whose host
    /// shows another key, or that wants a client certificate of another CA, is refused with words that say so.
    @Test func oneEngineFailingLeavesTheOthersFastAndSaysWhy() async throws {
        let engines = try Self.engines()
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A known_hosts that holds another key for the SSH host.
        let other = folder.appendingPathComponent("other_key").path
        try TestUsers.shell("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other)
        let changedHosts = folder.appendingPathComponent("known_hosts").path
        try "[127.0.0.1]:\(engines.ssh.port) \(try String(contentsOfFile: other + ".pub", encoding: .utf8))"
            .write(toFile: changedHosts, atomically: true, encoding: .utf8)
        // A client certificate of a CA the TLS engine does not trust.
        let foreign = folder.appendingPathComponent("foreign").path
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try TestUsers.shell("sh", "-c", """
            cd \(foreign) && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out own-ca.pem -days 1 -subj /CN=foreign 2>/dev/null \
            && openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=berth 2>/dev/null \
            && openssl x509 -req -in client.csr -CA own-ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 1 2>/dev/null \
            && cp \(engines.tlsClient)/ca.pem ca.pem
            """)
        let pid = try String(contentsOfFile: engines.ssh.engineFolder + "/docker.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try await withTestApp(configure: {
            engines.configure(&$0)
            $0.engines += [
                EngineDefinition(name: "ssh-changed", address: engines.ssh.address, sshKey: engines.ssh.key, knownHosts: changedHosts),
                EngineDefinition(name: "tls-foreign", address: .tcp(host: "127.0.0.1", port: engines.tlsPort), tlsDirectory: foreign),
            ]
        }) { client, _ in
            let viewer = try await signIn(client, as: "bt-viewer")
            let overview = try await client.execute(uri: "/", method: .get, headers: [.cookie: viewer.cookie])
            #expect(overview.text.contains("has changed"), "the changed host key is named")
            #expect(overview.text.contains("2 of the engines did not answer"), "ssh-changed and tls-foreign")

            _ = try TestUsers.shell("kill", "-STOP", pid)
            do {
                let started = ContinuousClock.now
                let stalled = try await client.execute(uri: "/", method: .get, headers: [.cookie: viewer.cookie])
                let took = ContinuousClock.now - started
                #expect(took < .seconds(5), "the overview waited \(took) with the ssh engine stalled (timeout 3 s)")
                #expect(stalled.text.contains("No answer within 3 s."))
                let tlsStarted = ContinuousClock.now
                let tls = try await client.execute(uri: "/engines/tls/containers", method: .get, headers: [.cookie: viewer.cookie])
                #expect(tls.status == .ok)
                #expect(ContinuousClock.now - tlsStarted < .seconds(1), "the TLS engine's page is not held by the stalled one")
            } catch {
                _ = try? TestUsers.shell("kill", "-CONT", pid)
                throw error
            }
            _ = try TestUsers.shell("kill", "-CONT", pid)
        }
    }

    static func remove(_ ids: [String: String], _ sockets: [String: EngineClient]) async {
        for (name, id) in ids { try? await sockets[name]?.removeContainer(id, force: true) }
    }
}
