@testable import BerthWeb
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Berth served against the second private engine's TLS port (`--engine-tls-dir`), as an operator whose engine is on
/// another host would run it. Named as the engine-level TLS suite so that it takes the same turn (scripts/test).
@Suite(.serialized) struct EngineTLSTests {
    @Test func berthServesAnEngineOnTLSFromItsTLSFolderAndRefusesTheFolderForASocket() async throws {
        let folder = (ProcessInfo.processInfo.environment["BERTH_ENGINE_DIR"] ?? "/tmp/berth-engine-2") + "/tls"
        guard let text = try? String(contentsOfFile: folder + "/port", encoding: .utf8),
              let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestSetupError("no TLS engine: start the second engine with BERTH_ENGINE_TLS=1 scripts/engine up")
        }
        let address = EngineAddress.tcp(host: "127.0.0.1", port: port)
        let name = "berth-tls-page-\(UUID().uuidString.prefix(8).lowercased())"
        let engine = EngineClient(address: address, tls: try EngineTLS(directory: folder + "/client").load())
        let created = try await engine.createContainer(
            ContainerCreateRequest(image: "busybox:latest", cmd: ["true"], labels: ["berth.test": "1"], hostConfig: .init(networkMode: "none")),
            name: name
        )
        do {
            try await withTestApp(engine: address, configure: { $0.engineTLSDirectory = folder + "/client" }) { client, _ in
                let viewer = try await signIn(client, as: "bt-viewer")
                let list = try await client.execute(uri: "/containers?all=1", method: .get, headers: viewer.getHeaders)
                #expect(list.status == .ok && list.text.contains(name), "\(list.text.prefix(500))")
            }
        } catch {
            try? await engine.removeContainer(created.id, force: true)
            try? await engine.shutdown()
            throw error
        }
        try await engine.removeContainer(created.id, force: true)
        try await engine.shutdown()

        // The folder is for tcp://: with a socket, Berth does not start, and says why.
        var configuration = TestApp.configuration(directory: try Repository.temporaryDirectory(), engine: .unix(path: "/tmp/none.sock"))
        configuration.engineTLSDirectory = folder + "/client"
        await #expect { _ = try await buildRouter(configuration) } throws: { "\($0)".contains("--engine-tls-dir is for an engine on tcp://") }
    }
}
