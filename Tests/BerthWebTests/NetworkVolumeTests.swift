@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Networks and volumes on the real engine: create, use from a container, remove; roles and audit.
@Suite struct NetworkVolumeTests {


    @Test func aNetworkIsCreatedUsedRefusedWhileInUseAndRemoved() async throws {
        let name = TestEngine.uniqueName("net")
        let home = name + "-home"
        try await TestEngine.withContainers { engine, scope in
            // A container on a user network of its own (one on `none` can't join another network).
            _ = try await engine.createNetwork(NetworkCreateRequest(
                name: home, driver: "bridge", internal: true, attachable: false, labels: ["berth.test": "1"], subnet: nil
            ))
            let created = try await engine.createContainer(ContainerCreateRequest(
                image: "busybox", cmd: ["sleep", "300"], labels: [TestEngine.label: "1"], hostConfig: .init(networkMode: home)
            ))
            let container = created.id
            try await engine.startContainer(container)
            try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let refused = try await post(client, operatorBrowser, "/networks/create", [("name", name), ("driver", "bridge")])
                #expect(refused.status == .forbidden)

                let admin = try await signIn(client, as: "bt-admin")
                let badSubnet = try await post(client, admin, "/networks/create", [("name", name), ("driver", "bridge"), ("subnet", "10.300.0.0/24")])
                #expect(try await flash(after: badSubnet, client, admin)?.contains("is not a subnet") == true)
                let created = try await post(client, admin, "/networks/create", [
                    ("name", name), ("driver", "bridge"), ("subnet", "10.231.\(Int.random(in: 1...250)).0/24"), ("internal", "1"),
                    ("labels", "berth.test=1"),
                ])
                #expect(try await flash(after: created, client, admin) == "Created network \(name).")
                let network = try await engine.inspectNetwork(name)
                #expect(network.isInternal == true && network.labels?["berth.test"] == "1")

                let list = try await client.execute(uri: "/networks", method: .get, headers: operatorBrowser.getHeaders)
                #expect(list.text.contains(#"data-network="\#(name)""#))
                // An operator connects a container; the network's page lists it with its address.
                let connected = try await post(client, operatorBrowser, "/networks/\(network.id)/connect", [("container", container)])
                #expect(try await flash(after: connected, client, operatorBrowser)?.hasPrefix("Connected") == true)
                let page = try await client.execute(uri: "/networks/\(network.id)", method: .get, headers: operatorBrowser.getHeaders)
                #expect(page.text.contains("data-connected="))
                #expect(page.text.contains("10.231."))

                // In use: the daemon's refusal, as it said it.
                let inUse = try await post(client, admin, "/networks/\(network.id)/remove")
                let inUseText = try await flash(after: inUse, client, admin) ?? ""
                #expect(inUseText.contains("active endpoints") || inUseText.contains("in use"), "\(inUseText)")
                let disconnected = try await post(client, operatorBrowser, "/networks/\(network.id)/disconnect", [("container", container)])
                #expect(try await flash(after: disconnected, client, operatorBrowser)?.hasPrefix("Disconnected") == true)
                let removed = try await post(client, admin, "/networks/\(network.id)/remove")
                #expect(try await flash(after: removed, client, admin)?.hasPrefix("Removed network") == true)
                await #expect(throws: EngineError.self) { _ = try await engine.inspectNetwork(name) }

                let events = try await app.auditEvents()
                #expect(events.filter { $0.action == "network.create" }.map(\.outcome) == [.ok, .error, .denied])
                #expect(events.filter { $0.action == "network.remove" }.map(\.outcome) == [.ok, .error])
                #expect(events.filter { $0.action == "network.connect" }.map(\.outcome) == [.ok])
                #expect(events.filter { $0.action == "network.disconnect" }.map(\.outcome) == [.ok])
            }
            try? await engine.removeContainer(container, force: true)
        }
        _ = try? await TestEngine.withClient { engine in
            for network in [name, home] { try? await engine.removeNetwork(network) }
        }
    }

    @Test func aVolumeIsCreatedUsedShownAndRemovedHostBindsAreForAdmins() async throws {
        let name = TestEngine.uniqueName("vol")
        try await TestEngine.withContainers { engine, scope in
            try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let bind = try await post(client, operatorBrowser, "/volumes/create", [
                    ("name", name + "-bind"), ("options", "type=none\no=bind\ndevice=/etc"),
                ])
                #expect(try await flash(after: bind, client, operatorBrowser)?.contains("Only admins may give driver options") == true)
                let created = try await post(client, operatorBrowser, "/volumes/create", [("name", name), ("labels", "berth.test=1")])
                #expect(try await flash(after: created, client, operatorBrowser) == "Created volume \(name).")

                // A container writes into it; the list shows who uses it.
                let user = try await engine.createContainer(ContainerCreateRequest(
                    image: "busybox", cmd: ["sh", "-c", "head -c 100000 /dev/zero > /data/blob"], labels: [TestEngine.label: "1"],
                    hostConfig: .init(networkMode: "none", mounts: [.init(type: "volume", source: name, target: "/data")])
                ))
                try await engine.startContainer(user.id)
                _ = try await engine.waitContainer(user.id)
                let list = try await client.execute(uri: "/volumes", method: .get, headers: operatorBrowser.getHeaders)
                #expect(list.text.contains(#"data-volume="\#(name)""#))
                let row = list.text.components(separatedBy: #"data-volume="\#(name)""#).dropFirst().first ?? ""
                #expect(row.prefix(600).contains("unused") == false, "the container is listed as its user")

                let refused = try await post(client, operatorBrowser, "/volumes/\(name)/remove")
                #expect(refused.status == .forbidden)
                let admin = try await signIn(client, as: "bt-admin")
                let inUse = try await post(client, admin, "/volumes/\(name)/remove")
                let inUseText = try await flash(after: inUse, client, admin) ?? ""
                #expect(inUseText.contains("in use"), "\(inUseText)")
                try await engine.removeContainer(user.id, force: true)
                // Now unused: the prune preview lists it; removing it works.
                let preview = try await client.execute(uri: "/volumes/prune", method: .get, headers: admin.getHeaders)
                #expect(preview.text.contains(#"data-volume="\#(name)""#))
                let removed = try await post(client, admin, "/volumes/\(name)/remove")
                #expect(try await flash(after: removed, client, admin) == "Removed volume \(name).")

                let events = try await app.auditEvents()
                // Closures out of #expect: Swift 6.3.1 can run one inside #expect in place of a later one (ExecTests).
                let creations = events.filter { $0.action == "volume.create" }.map(\.outcome)
                let removals = events.filter { $0.action == "volume.remove" }.map(\.outcome)
                let denial = events.first { $0.action == "volume.remove" && $0.outcome == .denied }
                #expect(creations == [.ok, .denied])
                #expect(removals == [.ok, .error, .denied])
                #expect(denial?.targetType == "volume" && denial?.targetId == name)
            }
        }
        _ = try? await TestEngine.withClient { try await $0.removeVolume(name, force: true) }
    }
}
