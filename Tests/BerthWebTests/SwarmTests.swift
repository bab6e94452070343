@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// A real swarm on the test engine (`docker swarm init --advertise-addr 127.0.0.1`): scale a service to 3 and see 3
/// running tasks, drain the node and see them shut down, stream the service's logs. Runs alone (scripts/test): it
/// turns the shared engine into a swarm manager for a while, and leaves the swarm at the end.
@Suite(.serialized) struct SwarmTests {

    /// Waits (up to 60 s) until the service has `count` tasks in `state`.
    func tasks(_ engine: EngineClient, _ service: String, _ state: String, count: Int) async throws -> Int {
        var seen = 0
        for _ in 0..<300 {
            seen = try await engine.listTasks(service: service).filter { $0.status?.state == state }.count
            if seen == count { return seen }
            try await Task.sleep(for: .milliseconds(200))
        }
        return seen
    }

    @Test func scaleDrainAndStreamLogsOfAService() async throws {
        let docker = "docker -H \(try TestEngine.address().description)"
        try await withLiveStreamApp { live in
            let viewer = try await signIn(live.client, as: "bt-viewer")
            let before = try await live.client.execute(uri: "/swarm", method: .get, headers: viewer.getHeaders)
            #expect(before.status == .ok)
            #expect(before.text.contains(#"data-swarm="none""#), "not a swarm manager yet")
        }
        // A port of its own: another swarm manager on this machine (a real engine, an aborted run's) holds 2377.
        let port = try LoopbackPort.free()
        try TestUsers.shell("sh", "-c", "\(docker) swarm init --advertise-addr 127.0.0.1:\(port) --listen-addr 127.0.0.1:\(port) >/dev/null")
        defer { try? TestUsers.shell("sh", "-c", "\(docker) swarm leave --force >/dev/null") }
        let name = TestEngine.uniqueName("svc")
        // Created through Berth by an admin; an operator may not.
        try await withLiveStreamApp { live in
            let operatorBrowser = try await signIn(live.client, as: "bt-operator")
            let fields = [
                ("name", name), ("image", "busybox"), ("replicas", "1"),
                ("command", "sh -c 'while true; do echo hello-from-task; sleep 1; done'"),
            ]
            let refused = try await post(live.client, operatorBrowser, "/swarm/services/create", fields)
            #expect(refused.status == .forbidden)
            let admin = try await signIn(live.client, as: "bt-admin")
            let created = try await post(live.client, admin, "/swarm/services/create", fields)
            #expect(created.status == .seeOther)
            let events = try await live.app.auditEvents().filter { $0.action == "service.create" }
            #expect(events.map(\.outcome) == [.ok, .denied])
        }
        try await TestEngine.withClient { engine in
            let service = try await engine.inspectService(name)
            #expect(try await tasks(engine, service.id, "running", count: 1) == 1)
            try await withLiveStreamApp { live in
                let viewer = try await signIn(live.client, as: "bt-viewer")
                let overview = try await live.client.execute(uri: "/swarm", method: .get, headers: viewer.getHeaders)
                #expect(overview.text.contains(#"data-service="\#(name)""#))
                #expect(overview.text.contains("1 / 1"))
                let node = try #require(try await engine.listNodes().first)
                #expect(overview.text.contains(#"data-node="\#(node.id)""#))

                let refusedScale = try await post(live.client, viewer, "/swarm/services/\(service.id)/scale", [("replicas", "3")])
                #expect(refusedScale.status == .forbidden)
                let operatorBrowser = try await signIn(live.client, as: "bt-operator")
                let badScale = try await post(live.client, operatorBrowser, "/swarm/services/\(service.id)/scale", [("replicas", "-1")])
                #expect(badScale.status == .seeOther)
                let scaled = try await post(live.client, operatorBrowser, "/swarm/services/\(service.id)/scale", [("replicas", "3")])
                #expect(scaled.status == .seeOther)
                #expect(try await tasks(engine, service.id, "running", count: 3) == 3)
                let page = try await live.client.execute(uri: "/swarm/services/\(service.id)", method: .get, headers: viewer.getHeaders)
                #expect(page.text.contains("3 / 3"))
                #expect(page.text.components(separatedBy: #"data-task-state="running""#).count - 1 == 3)

                // The service's logs, streamed as the log viewer reads them.
                let logsPage = try await live.client.execute(uri: "/swarm/services/\(service.id)/logs", method: .get, headers: viewer.getHeaders)
                #expect(logsPage.text.contains(#"data-stream="/swarm/services/\#(service.id)/logs/stream?"#))
                let stream = try await live.open("/swarm/services/\(service.id)/logs/stream?tail=5", as: viewer)
                let (lines, _) = await collectLines(stream, timeout: .seconds(20)) { $0.count >= 3 }
                stream.close()
                #expect(lines.count >= 3)
                #expect(lines.allSatisfy { $0.text == "hello-from-task" && $0.container == String(service.id.prefix(12)) })

                // Draining is for admins; it moves every task to shutdown.
                let refusedDrain = try await post(live.client, operatorBrowser, "/swarm/nodes/\(node.id)/availability", [("availability", "drain")])
                #expect(refusedDrain.status == .forbidden)
                let admin = try await signIn(live.client, as: "bt-admin")
                let drained = try await post(live.client, admin, "/swarm/nodes/\(node.id)/availability", [("availability", "drain")])
                #expect(drained.status == .seeOther)
                #expect(try await engine.listNodes().first?.spec?.availability == "drain")
                #expect(try await tasks(engine, service.id, "running", count: 0) == 0)
                let shutdown = try await engine.listTasks(service: service.id).filter { $0.desiredState == "shutdown" }.count
                #expect(shutdown >= 3)
                _ = try await post(live.client, admin, "/swarm/nodes/\(node.id)/availability", [("availability", "active")])

                let events = try await live.app.auditEvents()
                #expect(events.filter { $0.action == "service.scale" }.map(\.outcome) == [.ok, .error, .denied])
                #expect(events.filter { $0.action == "node.availability" }.map(\.outcome) == [.ok, .ok, .denied])
                #expect(events.contains { $0.action == "service.logs" && $0.actor == "bt-viewer" })
            }
            // Removing it is for admins too.
            try await withLiveStreamApp { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                let removed = try await post(live.client, admin, "/swarm/services/\(service.id)/remove")
                #expect(removed.status == .seeOther)
                await #expect(throws: EngineError.self) { _ = try await engine.inspectService(service.id) }
            }
            try? TestUsers.shell("sh", "-c", "\(docker) service rm \(name) >/dev/null 2>&1")
        }
    }
}
