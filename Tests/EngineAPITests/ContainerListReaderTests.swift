@testable import EngineAPI
import Foundation
import NIOCore
import Testing
import TestSupport

/// The quick container-list reader must read what JSONDecoder reads, on real engine answers and on awkward JSON.
@Suite struct ContainerListReaderTests {
    @Test func readsARealEngineAnswerAsJSONDecoderDoes() async throws {
        try await TestEngine.withContainers { client, scope in
            let run = UUID().uuidString
            try await scope.busybox(["sleep", "60"], labels: ["berth.test.run": run, "tier": "web", "quote\"d": "a\\b \u{1F680} é"])
            try await scope.busybox(["true"], labels: ["berth.test.run": run], start: false)
            let body = try await client.transport.collect(
                EngineRequest(path: "/containers/json", query: [("all", "1")]), version: client.apiVersion(), limit: 1 << 26
            )
            let quick = try ContainerListReader.read(body)
            let reference = try JSONDecoder().decode([ContainerSummary].self, from: Data(body.readableBytesView))
            #expect(quick.count == reference.count && quick.count >= 2)
            for (a, b) in zip(quick, reference) { expectSame(a, b) }
            #expect(quick.contains { $0.labels?["quote\"d"] == "a\\b \u{1F680} é" })
        }
    }

    @Test func readsAwkwardJSONAsJSONDecoderDoes() throws {
        let json = #"""
        [ {"Id":"abc","Names":["/we\"ird\/name","\u00e9\ud83d\ude80"],"Image":"busybox","ImageID":null,
           "Command":"sh -c 'echo \\\"hi\\\"'\n","Created":1.7e9,"Ports":[{"PrivatePort":80,"Type":"tcp"},
           {"IP":"::","PrivatePort":443,"PublicPort":8443,"Type":"tcp"}],"Labels":{"a":"1","b\tc":"\u0000x"},
           "State":"running","Status":"Up 2 minutes (healthy)","HostConfig":{"NetworkMode":"none","Annotations":{"x":[1,2,{"y":null}]}},
           "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2","Aliases":null},"none":{}}},
           "Mounts":[{"Type":"volume","Name":"data","Source":"/var/lib/x","Destination":"/data","RW":true,"Propagation":""}],
           "Unknown":[true,false,null,-12.5e-3,"}"]},
          {"Id":"def","Names":null,"Ports":[],"Labels":null,"Mounts":null,"NetworkSettings":null,"Created":-5} ]
        """#
        let body = ByteBuffer(string: json)
        let quick = try ContainerListReader.read(body)
        let reference = try JSONDecoder().decode([ContainerSummary].self, from: Data(json.utf8))
        #expect(quick.count == 2)
        for (a, b) in zip(quick, reference) { expectSame(a, b) }
        #expect(quick[0].names == ["/we\"ird/name", "é🚀"])
        #expect(quick[0].created == 1_700_000_000)
        #expect(quick[1].ports == [])
    }

    @Test func refusesBrokenJSON() {
        for broken in [#"[{"Id":"a""#, #"[{"Id":"a"},]x"#, #"[{"Id":"a","Names":["x]}]"#, #"[{"Names":["x"]}]"#, #"{"Id":"a"}"#] {
            #expect(throws: JSONReader.Failure.self, "\(broken)") { try ContainerListReader.read(ByteBuffer(string: broken)) }
        }
    }
}

private func expectSame(_ a: ContainerSummary, _ b: ContainerSummary) {
    #expect(a.id == b.id)
    #expect(a.names == b.names)
    #expect(a.image == b.image)
    #expect(a.imageID == b.imageID)
    #expect(a.command == b.command)
    #expect(a.created == b.created)
    #expect(a.ports == b.ports)
    #expect(a.labels == b.labels)
    #expect(a.state == b.state)
    #expect(a.status == b.status)
    #expect(a.mounts?.map { [$0.type, $0.name, $0.source, $0.destination, $0.readWrite.map(String.init)] }
        == b.mounts?.map { [$0.type, $0.name, $0.source, $0.destination, $0.readWrite.map(String.init)] })
    #expect(a.networkSettings?.networks?.mapValues(\.ipAddress) == b.networkSettings?.networks?.mapValues(\.ipAddress))
}
