@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// The engine page: what it is, what it holds, and a prune that shows first what it would remove. Runs alone
/// (scripts/test): a prune removes other tests' stopped containers too.
@Suite(.serialized) struct SystemTests {
    @Test func theEnginePageDescribesItAndPrunesWhatItPreviewed() async throws {
        try await TestEngine.withContainers { engine, scope in
            let stopped = TestEngine.uniqueName("stopped")
            let id = try await scope.busybox(["true"], name: stopped)
            _ = try await engine.waitContainer(id)
            let network = TestEngine.uniqueName("unused")
            _ = try await engine.createNetwork(NetworkCreateRequest(
                name: network, driver: "bridge", internal: true, attachable: false, labels: [:], subnet: nil
            ))
            try await withTestApp { client, app in
                let viewer = try await signIn(client, as: "bt-viewer")
                let page = try await client.execute(uri: "/system", method: .get, headers: viewer.getHeaders)
                #expect(page.status == .ok)
                let version = try await engine.version()
                #expect(page.text.contains("<dd>\(version.version ?? "?")</dd>"))
                #expect(page.text.contains("Berth speaks \(try await engine.apiVersion())"))
                #expect(page.text.contains("<td>Volumes</td>") && page.text.contains("<td>Build cache</td>"))
                let containersRow = page.text.components(separatedBy: #"data-prune="containers""#).dropFirst().first?.prefix(4000) ?? ""
                #expect(containersRow.contains(stopped), "the stopped container is in the preview")
                let networksRow = page.text.components(separatedBy: #"data-prune="networks""#).dropFirst().first?.prefix(4000) ?? ""
                #expect(networksRow.contains(network))
                #expect(!page.text.contains(#"type="checkbox" name="containers""#), "viewers get no prune boxes")

                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let refused = try await client.execute(
                    uri: "/system/prune", method: .post, headers: operatorBrowser.postHeaders(),
                    body: formBody([("_csrf", operatorBrowser.csrfToken), ("networks", "1")])
                )
                #expect(refused.status == .forbidden)

                let admin = try await signIn(client, as: "bt-admin")
                let nothing = try await client.execute(
                    uri: "/system/prune", method: .post, headers: admin.postHeaders(), body: formBody([("_csrf", admin.csrfToken)])
                )
                #expect(nothing.status == .seeOther)
                let pruned = try await client.execute(
                    uri: "/system/prune", method: .post, headers: admin.postHeaders(),
                    body: formBody([("_csrf", admin.csrfToken), ("containers", "1"), ("networks", "1")])
                )
                #expect(pruned.status == .seeOther)
                await #expect(throws: EngineError.self) { _ = try await engine.inspectContainer(id) }
                await #expect(throws: EngineError.self) { _ = try await engine.inspectNetwork(network) }
                let rows = try await app.auditEvents().filter { $0.action == "system.prune" }
                #expect(rows.map(\.outcome) == [.ok, .denied])
                #expect(rows.first?.parameters == #"{"kinds":"containers,networks"}"#)
            }
        }
    }
}
