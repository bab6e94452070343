import Compose
import Foundation
import Testing

@Suite struct ComposePlanTests {
    let project: ComposeProject

    init() throws {
        project = try ComposeParser(variables: [:], projectDirectory: "/srv/shop").parse(ComposeParserTests.threeServices)
    }

    func deployed(_ service: ComposeService, number: Int = 1, running: Bool = true, hash: String? = nil) -> DeployedContainer {
        DeployedContainer(
            id: "id-\(service.name)-\(number)", name: "shop-\(service.name)-\(number)", service: service.name, number: number,
            configHash: hash ?? service.configHash, running: running
        )
    }

    @Test func aFirstDeployCreatesEveryContainerInStartOrder() {
        let plan = ComposePlan(project: "shop", services: project.startOrder(of: project.services), deployed: [])
        #expect(plan.steps.map { "\($0.containerName) \($0.action)" } == [
            "shop-db-1 create", "shop-migrate-1 create", "shop-web-1 create", "shop-web-2 create",
        ])
    }

    @Test func anEditedServiceIsRecreatedNamingTheKeysTheRestIsKept() throws {
        let edited = try ComposeParser(variables: [:], projectDirectory: "/srv/shop")
            .parse(ComposeParserTests.threeServices.replacingOccurrences(of: "DB_HOST: db", with: "DB_HOST: db2"))
        let running = project.services.flatMap { service in (1...service.replicas).map { deployed(service, number: $0) } }
        let previous = Dictionary(uniqueKeysWithValues: project.services.map { ($0.name, $0) })
        let plan = ComposePlan(project: "shop", services: edited.startOrder(of: edited.services), deployed: running, previous: previous)
        #expect(plan.steps.map(\.action) == [
            .keep(container: "id-db-1", start: false), .keep(container: "id-migrate-1", start: false),
            .recreate(container: "id-web-1", keys: ["environment"]), .recreate(container: "id-web-2", keys: ["environment"]),
        ])
        let unchanged = ComposePlan(project: "shop", services: project.startOrder(of: project.services), deployed: running)
        #expect(unchanged.isEmpty)
    }

    @Test func scalingDownAndDroppedServicesRemoveTheirContainersLast() throws {
        var smaller = project
        smaller.services.removeAll { $0.name == "migrate" }
        smaller.services[0].replicas = 1
        let running = project.services.flatMap { service in (1...service.replicas).map { deployed(service, number: $0) } }
        let plan = ComposePlan(project: "shop", services: smaller.startOrder(of: smaller.services), deployed: running)
        #expect(plan.steps.map(\.action) == [
            .keep(container: "id-db-1", start: false), .keep(container: "id-web-1", start: false),
            .remove(container: "id-migrate-1"), .remove(container: "id-web-2"),
        ])
        let stopped = ComposePlan(project: "shop", services: [project.service("db")!], deployed: [deployed(project.service("db")!, running: false)])
        #expect(stopped.steps.map(\.action) == [.keep(container: "id-db-1", start: true)] && !stopped.isEmpty)
    }

    @Test func labelsSayWhichContainersBelongToTheProject() {
        let labels = [ComposeLabel.service: "web", ComposeLabel.containerNumber: "2", ComposeLabel.configHash: "abc", ComposeLabel.oneoff: "False"]
        #expect(DeployedContainer(id: "x", name: "shop-web-2", labels: labels, running: true)?.number == 2)
        var oneoff = labels
        oneoff[ComposeLabel.oneoff] = "True"
        #expect(DeployedContainer(id: "x", name: "shop-web-run-1", labels: oneoff, running: true) == nil)
        #expect(ComposeLabel.isValidProjectName("shop_2") && !ComposeLabel.isValidProjectName("Shop") && !ComposeLabel.isValidProjectName("-x"))
    }
}

@Suite struct ComposePlanProfileTests {
    @Test func containersOfAServiceSwitchedOffByProfilesAreKept() throws {
        let project = try ComposeParser(variables: [:], projectDirectory: "/srv/shop").parse("""
            services:
              app: {image: busybox}
              debug: {image: busybox, profiles: [debug]}
            """)
        let all = project.services.map { service in
            DeployedContainer(id: "id-\(service.name)", name: "shop-\(service.name)-1", service: service.name, number: 1, configHash: service.configHash, running: true)
        }
        let gone = DeployedContainer(id: "id-old", name: "shop-old-1", service: "old", number: 1, configHash: "x", running: true)
        let active = project.startOrder(of: project.active(profiles: []))
        let plan = ComposePlan(project: "shop", services: active, deployed: all + [gone], allServices: Set(project.services.map(\.name)))
        #expect(plan.steps.map(\.action) == [.keep(container: "id-app", start: false), .remove(container: "id-old")])
        #expect(plan.isEmpty == false)
        let unknown = ComposePlan(project: "shop", services: active, deployed: all)
        #expect(unknown.steps.map(\.action) == [.keep(container: "id-app", start: false), .remove(container: "id-debug")], "without allServices: as before")
    }
}

@Suite struct ComposePlanImageTests {
    @Test func aContainerOfAnOlderImageIsRecreatedNamingTheImageAndOneOfTheCurrentImageIsKept() throws {
        let project = try ComposeParser(variables: [:], projectDirectory: "/p").parse("""
            services:
              web:
                image: shop/web:1
              db:
                image: shop/db:1
            """)
        let hashes = Dictionary(uniqueKeysWithValues: project.services.map { ($0.name, $0.configHash) })
        let deployed = [
            DeployedContainer(id: "w", name: "p-web-1", service: "web", number: 1, configHash: hashes["web"]!, running: true, imageId: "sha256:old"),
            DeployedContainer(id: "d", name: "p-db-1", service: "db", number: 1, configHash: hashes["db"]!, running: true, imageId: "sha256:db"),
        ]
        let plan = ComposePlan(
            project: "p", services: project.services, deployed: deployed, images: ["shop/web:1": "sha256:new", "shop/db:1": "sha256:db"]
        )
        #expect(plan.steps.map(\.action) == [.recreate(container: "w", keys: ["image"]), .keep(container: "d", start: false)])
        // Without what the tags name now, nothing is known to be newer.
        #expect(ComposePlan(project: "p", services: project.services, deployed: deployed).isEmpty)
    }
}
