import EngineAPI
import Foundation
import NIOCore
import Testing
import TestSupport

/// The second private engine also listens on a loopback TCP port with `--tlsverify` (`BERTH_ENGINE_TLS=1
/// scripts/engine up`: a CA, server and client certificates made with openssl into its folder's `tls/`). Berth reaches
/// it as the docker CLI does with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`.
@Suite(.serialized) struct EngineTLSTests {
    struct TLSEngine {
        let address: EngineAddress
        /// `ca.pem`, `cert.pem`, `key.pem` as the docker CLI wants them.
        let clientFiles: String
        let folder: String
    }

    static func tlsEngine() throws -> TLSEngine {
        let folder = (ProcessInfo.processInfo.environment["BERTH_ENGINE_DIR"] ?? "/tmp/berth-engine-2") + "/tls"
        guard let text = try? String(contentsOfFile: folder + "/port", encoding: .utf8),
              let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestSetupError("no TLS engine: start it with BERTH_ENGINE_DIR=\(folder.dropLast(4)) BERTH_ENGINE_TLS=1 scripts/engine up")
        }
        return TLSEngine(address: .tcp(host: "127.0.0.1", port: port), clientFiles: folder + "/client", folder: folder)
    }

    /// `body`'s value, or nil when it took longer than `limit` (it is cancelled then).
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: limit); return nil }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    @Test func overTLSBerthListsRunsFollowsLogsAndEventsAndExecs() async throws {
        let tls = try Self.tlsEngine()
        let engine = EngineClient(address: tls.address, tls: try EngineTLS(directory: tls.clientFiles).load())
        let name = "berth-tls-\(UUID().uuidString.prefix(8).lowercased())"
        do {
            #expect(try await engine.ping().apiVersion != nil)
            let events = try await engine.events(filters: ["container": [name]])
            let created = try await engine.createContainer(
                ContainerCreateRequest(
                    image: "busybox:latest", cmd: ["sh", "-c", "echo over tls; trap 'exit 0' TERM; sleep 60 & wait"],
                    labels: ["berth.test": "1"], hostConfig: .init(networkMode: "none")
                ),
                name: name
            )
            _ = try await engine.startContainer(created.id)
            #expect(try await engine.listContainers(all: true).contains { $0.id == created.id })
            // An event, on a stream of its own over TLS.
            let sawCreate = try await Self.within(.seconds(20)) {
                for try await event in events where event.action == "create" { return true }
                return false
            }
            #expect(sawCreate == true)
            // The logs, followed on a connection of its own.
            var logs = ""
            for _ in 0..<50 where !logs.contains("over tls") {
                logs = try await engine.containerLogs(created.id).collect().stdoutText
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(logs == "over tls\n")
            // An exec, attached both ways over the upgraded TLS connection.
            let exec = try await engine.createExec(in: created.id, options: ExecOptions(command: ["echo", "exec over tls"], tty: false))
            let session = try await engine.startExec(exec, tty: false)
            let output = try await Self.within(.seconds(20)) {
                var output = ""
                for try await chunk in session.output { output += String(buffer: chunk) }
                return output
            }
            #expect(output?.contains("exec over tls") == true, "\(String(describing: output))")
            _ = try await engine.stopContainer(created.id, timeout: 5)
            try await engine.removeContainer(created.id, force: true)
        } catch {
            _ = try? await engine.removeContainer(name, force: true)
            try? await engine.shutdown()
            throw error
        }
        try await engine.shutdown()
    }

    @Test func aClientCertificateFromAnotherCAAndAnEngineOfAnotherCAAreRefused() async throws {
        let tls = try Self.tlsEngine()
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Another CA: its client certificate, and it as the only CA Berth trusts.
        try TestUsers.shell(
            "sh", "-c",
            """
            set -e; cd \(directory.path)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca-key.pem -out other-ca.pem -days 1 -subj /CN=other 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=intruder 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA other-ca.pem -CAkey other-ca-key.pem -CAcreateserial -out cert.pem -days 1 -extfile client.ext 2>/dev/null
            """
        )
        let intruder = EngineTLS(caPath: tls.clientFiles + "/ca.pem", certificatePath: directory.path + "/cert.pem", keyPath: directory.path + "/key.pem")
        let refused = EngineClient(address: tls.address, tls: try intruder.load())
        await #expect { _ = try await refused.ping() } throws: { error in
            guard case .unreachable = error as? EngineError else { return false }
            return true
        }
        try await refused.shutdown()

        let distrusting = EngineTLS(
            caPath: directory.path + "/other-ca.pem", certificatePath: tls.clientFiles + "/cert.pem", keyPath: tls.clientFiles + "/key.pem"
        )
        let doubting = EngineClient(address: tls.address, tls: try distrusting.load())
        await #expect { _ = try await doubting.ping() } throws: { error in
            "\(error)".lowercased().contains("certificate")
        }
        try await doubting.shutdown()

        // Plain HTTP to the TLS port is no engine answer either.
        let plain = EngineClient(address: tls.address)
        await #expect(throws: (any Error).self) { _ = try await plain.ping() }
        try await plain.shutdown()

        // A folder without the files: words that name the file.
        #expect { _ = try EngineTLS(directory: directory.path + "/none").load() } throws: { "\($0)".contains("none/ca.pem") }
    }

    /// The files' contents rather than their paths (an engine added in the browser, whose key Berth keeps sealed): the
    /// same engine answers; a key of another certificate, or no PEM at all, is refused by what it is, not by content.
    @Test func theFilesContentsServeAsWellAsTheirPaths() async throws {
        let tls = try Self.tlsEngine()
        func read(_ name: String) throws -> String { try String(contentsOfFile: tls.clientFiles + "/" + name, encoding: .utf8) }
        let loaded = try EngineTLS.load(caPEM: try read("ca.pem"), certificatePEM: try read("cert.pem"), keyPEM: try read("key.pem"), source: "the engine 'tls'")
        let engine = EngineClient(address: tls.address, tls: loaded)
        let answered = try await Self.within(.seconds(15)) { try await engine.ping().apiVersion != nil }
        try await engine.shutdown()
        #expect(answered == true)

        let otherKey = try TestUsers.shell("openssl", "genrsa", "2048")
        #expect {
            _ = try EngineTLS.load(caPEM: try read("ca.pem"), certificatePEM: try read("cert.pem"), keyPEM: otherKey, source: "the engine 'tls'")
        } throws: { "\($0)".contains("the client key of the engine 'tls' does not go with its certificate") }
        #expect {
            _ = try EngineTLS.load(caPEM: "not a certificate", certificatePEM: try read("cert.pem"), keyPEM: try read("key.pem"), source: "the engine 'tls'")
        } throws: { "\($0)".contains("CA certificate of the engine 'tls'") && !"\($0)".contains("not a certificate") }
    }
}
