import EngineAPI
import Foundation
import Testing
import TestSupport

@Suite struct ListTests {
    @Test func filtersByStatusLabelAndName() async throws {
        try await TestEngine.withContainers { client, scope in
            let run = UUID().uuidString
            let runLabel = "berth.test.run=\(run)"
            let runningName = TestEngine.uniqueName("list-running")
            let exitedName = TestEngine.uniqueName("list-exited")
            let createdName = TestEngine.uniqueName("list-created")
            let running = try await scope.busybox(["sleep", "300"], name: runningName, labels: ["berth.test.run": run, "tier": "web"])
            let exited = try await scope.busybox(["true"], name: exitedName, labels: ["berth.test.run": run])
            _ = try await client.waitContainer(exited)
            let created = try await scope.busybox(["true"], name: createdName, labels: ["berth.test.run": run], start: false)

            let all = try await client.listContainers(all: true, filters: .init(label: [runLabel]))
            #expect(Set(all.map(\.id)) == [running, exited, created])

            let onlyRunning = try await client.listContainers(all: false, filters: .init(label: [runLabel]))
            #expect(onlyRunning.map(\.id) == [running])
            #expect(onlyRunning.first?.name == runningName)
            #expect(onlyRunning.first?.state == "running")
            #expect(onlyRunning.first?.labels?["tier"] == "web")

            let exitedOnes = try await client.listContainers(all: true, filters: .init(status: ["exited"], label: [runLabel]))
            #expect(exitedOnes.map(\.id) == [exited])

            let byName = try await client.listContainers(all: true, filters: .init(name: [createdName]))
            #expect(byName.map(\.id) == [created])
            #expect(byName.first?.state == "created")

            let byTwoLabels = try await client.listContainers(all: true, filters: .init(label: [runLabel, "tier=web"]))
            #expect(byTwoLabels.map(\.id) == [running])
        }
    }

    @Test func listsTheBusyboxImage() async throws {
        try await TestEngine.withClient { client in
            let images = try await client.listImages()
            #expect(images.contains { $0.repoTags?.contains("busybox:latest") == true })
            #expect(images.allSatisfy { $0.id.hasPrefix("sha256:") })
        }
    }

    @Test func infoDescribesTheEngine() async throws {
        try await TestEngine.withClient { client in
            let info = try await client.info()
            #expect(info.serverVersion?.isEmpty == false)
            #expect(info.driver?.isEmpty == false)
            #expect((info.containers ?? -1) >= 0)
        }
    }
}

/// The open schema rule: unknown fields are ignored, absent optional fields tolerated.
@Suite struct OpenSchemaTests {
    @Test func decodesDocumentsWithUnknownAndMissingFields() throws {
        let json = #"[{"Id":"abc","Future":{"x":1},"Names":null,"Labels":null},{"Id":"def","State":"running","Ports":[{"PrivatePort":80,"NewThing":true}]}]"#
        let decoded = try JSONDecoder().decode([ContainerSummary].self, from: Data(json.utf8))
        #expect(decoded.count == 2)
        #expect(decoded[0].name == "abc")
        #expect(decoded[0].labels == nil)
        #expect(decoded[1].ports?.first?.privatePort == 80)
        let inspect = try JSONDecoder().decode(ContainerInspect.self, from: Data(#"{"Id":"x","State":{"Status":"running","Brand":"new"}}"#.utf8))
        #expect(inspect.state?.status == "running")
        #expect(inspect.config == nil)
    }
}
