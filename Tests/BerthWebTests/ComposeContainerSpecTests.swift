@testable import BerthWeb
import Compose
import EngineAPI
import Foundation
import Testing

/// What Berth asks the engine to create for a compose service: the compose CLI's name and labels, the service's
/// settings, networks and volumes under their engine names.
@Suite struct ComposeContainerSpecTests {
    @Test func aServiceBecomesACreateRequestWithTheComposeLabels() throws {
        let project = try ComposeParser(variables: [:], projectDirectory: "/srv/shop").parse("""
            services:
              web:
                image: busybox
                command: ["httpd", "-f"]
                environment: {B: "2", A: "1"}
                ports: ["127.0.0.1:8080:80"]
                volumes: ["data:/data", "shared:/shared:ro", "/scratch"]
                networks:
                  front: {aliases: [www]}
                  back:
                restart: on-failure:2
                healthcheck: {test: "wget -q -O- localhost", interval: 2s}
                depends_on: [db]
              db: {image: busybox}
            volumes:
              data:
              shared: {external: true}
            networks:
              front:
              back: {name: shop-backend}
            """)
        let place = ComposeContainerSpec.ProjectPlace(name: "shop", directory: "/srv/shop", file: "/srv/shop/compose.yaml")
        let web = try #require(project.service("web"))
        let spec = ComposeContainerSpec(service: web, number: 2, project: project, place: place)
        #expect(spec.name == "shop-web-2")
        let body = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(spec.request)) as? [String: Any])
        let labels = try #require(body["Labels"] as? [String: String])
        #expect(labels["com.docker.compose.project"] == "shop" && labels["com.docker.compose.service"] == "web")
        #expect(labels["com.docker.compose.container-number"] == "2" && labels["com.docker.compose.oneoff"] == "False")
        #expect(labels["com.docker.compose.config-hash"] == web.configHash)
        #expect(labels["com.docker.compose.project.config_files"] == "/srv/shop/compose.yaml")
        #expect(labels["com.docker.compose.depends_on"] == "db:service_started:false")
        #expect(body["Env"] as? [String] == ["A=1", "B=2"])
        #expect(body["Cmd"] as? [String] == ["httpd", "-f"])
        let health = try #require(body["Healthcheck"] as? [String: Any])
        #expect(health["Test"] as? [String] == ["CMD-SHELL", "wget -q -O- localhost"] && health["Interval"] as? Int == 2_000_000_000)
        let host = try #require(body["HostConfig"] as? [String: Any])
        let mounts = try #require(host["Mounts"] as? [[String: Any]])
        #expect(mounts.map { $0["Source"] as? String } == ["shop_data", "shared", nil])
        #expect(mounts[1]["ReadOnly"] as? Bool == true)
        #expect((host["RestartPolicy"] as? [String: Any])?["MaximumRetryCount"] as? Int == 2)
        let bindings = try #require(host["PortBindings"] as? [String: [[String: String]]])
        #expect(bindings["80/tcp"] == [["HostIp": "127.0.0.1", "HostPort": "8080"]])
        // The first network (by name) at creation, the other joined afterwards; the service's name is an alias on both.
        #expect(host["NetworkMode"] as? String == "shop-backend")
        let endpoints = try #require((body["NetworkingConfig"] as? [String: Any])?["EndpointsConfig"] as? [String: [String: [String]]])
        #expect(endpoints == ["shop-backend": ["Aliases": ["web"]]])
        #expect(spec.laterNetworks.map(\.network) == ["shop_front"] && spec.laterNetworks.first?.aliases == ["web", "www"])

        let db = try #require(project.service("db"))
        let plain = ComposeContainerSpec(service: db, number: 1, project: project, place: place)
        #expect(plain.request.hostConfig?.networkMode == "shop_default" && plain.laterNetworks.isEmpty)
    }
}
