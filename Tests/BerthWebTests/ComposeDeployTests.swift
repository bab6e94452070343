@testable import BerthWeb
import BerthStore
import Compose
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// Compose projects deployed on the real test engine, and seen by Debian's `docker-compose` (1.29).
@Suite(.serialized) struct ComposeDeployTests {
    /// The issue's three services (`Tests/fixtures/three-services.compose.yaml`, which the browser check deploys too):
    /// web needs a healthy db and a finished migrate, and keeps an anonymous volume; `web` is its greeting.
    /// A shell as PID 1 ignores TERM unless it traps it: the traps let stops (and `docker-compose down`) be quick.
    static func file(web: String = "hello") -> String {
        let fixture = Repository.root.appendingPathComponent("Tests/fixtures/three-services.compose.yaml")
        let text = (try? String(contentsOf: fixture, encoding: .utf8)) ?? "the fixture \(fixture.path) is missing"
        return text.replacingOccurrences(of: "${GREETING:-hello}", with: web)
    }

    /// Deploys `yaml` as `name`; the log lines.
    func deploy(_ yaml: String, name: String, directory: URL, engine: EngineClient) async throws -> (ComposePlan, [String]) {
        let project = try ComposeParser(variables: [:], projectDirectory: directory.path).parse(yaml)
        let file = directory.appendingPathComponent("compose.yaml")
        try Data(yaml.utf8).write(to: file)
        let place = ComposeContainerSpec.ProjectPlace(name: name, directory: directory.path, file: file.path)
        let deployed = try await ComposeDeployer.deployed(engine: engine, project: name)
        let plan = ComposePlan(
            project: name, services: project.startOrder(of: project.services), deployed: deployed, allServices: Set(project.services.map(\.name))
        )
        let lines = NIOLockedValueBox<[String]>([])
        let deployer = ComposeDeployer(
            engine: engine, project: project, place: place, log: { line in lines.withLockedValue { $0.append(line) } },
            pull: { image in throw ComposeDeployer.StepFailure(description: "no pull expected of \(image)") }
        )
        try await deployer.apply(plan)
        return (plan, lines.withLockedValue { $0 })
    }

    func compose(_ arguments: [String], name: String, directory: URL) throws -> String {
        try TestUsers.shell(
            "sh", "-c", "cd \(directory.path) && DOCKER_HOST=\(try TestEngine.address().description) docker-compose -p \(name) -f compose.yaml "
                + arguments.joined(separator: " ") + " 2>&1"
        )
    }

    @Test func aThreeServiceProjectDeploysInOrderAnEditRecreatesOnlyItsServiceAndTheComposeCLISeesIt() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "bt" + UUID().uuidString.prefix(8).lowercased()
        try await TestEngine.withClient { engine in
            do {
                let (first, log) = try await deploy(Self.file(), name: name, directory: directory, engine: engine)
                #expect(first.steps.map(\.containerName) == ["\(name)-db-1", "\(name)-migrate-1", "\(name)-web-1"])
                // web started only after db was healthy and migrate had finished.
                let waitedHealthy = try #require(log.firstIndex { $0.contains("\(name)-db-1 to be healthy") })
                let waitedMigrate = try #require(log.firstIndex { $0.contains("\(name)-migrate-1 to be completed successfully") })
                let createdWeb = try #require(log.firstIndex { $0.hasPrefix("creating \(name)-web-1") })
                #expect(waitedHealthy < createdWeb && waitedMigrate < createdWeb, "\(log)")
                let db = try await engine.inspectContainer("\(name)-db-1")
                #expect(db.state?.health?.status == "healthy")
                let web = try await engine.inspectContainer("\(name)-web-1")
                #expect(web.state?.running == true)
                let webHash = web.config?.labels?["com.docker.compose.config-hash"]

                // One service's environment edited: only it is recreated. The one-shot migrate runs again, as
                // `docker compose up` starts a project's stopped containers.
                let migrate = try await engine.inspectContainer("\(name)-migrate-1")
                let (second, _) = try await deploy(Self.file(web: "changed"), name: name, directory: directory, engine: engine)
                #expect(second.steps.map(\.action) == [
                    .keep(container: db.id, start: false), .keep(container: migrate.id, start: true), .recreate(container: web.id, keys: []),
                ])
                let newWeb = try await engine.inspectContainer("\(name)-web-1")
                #expect(newWeb.id != web.id && newWeb.state?.running == true)
                #expect(newWeb.config?.labels?["com.docker.compose.config-hash"] != webHash)
                #expect(newWeb.config?.env?.contains("GREETING=changed") == true)
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).count == 3, "the old web is gone")

                // The compose CLI lists Berth's project and takes it down.
                let ps = try compose(["ps"], name: name, directory: directory)
                #expect(ps.contains("\(name)-web-1") && ps.contains("\(name)-db-1") && ps.contains("(healthy)"), "\(ps)")
                _ = try compose(["down", "-v"], name: name, directory: directory)
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).isEmpty)
            } catch {
                _ = try? compose(["down", "-v"], name: name, directory: directory)
                throw error
            }
        }
    }

    @Test func aFailingDependencyStopsThePlanSayingWhichStep() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "bt" + UUID().uuidString.prefix(8).lowercased()
        let yaml = """
            services:
              app:
                image: busybox:latest
                command: ["sleep", "3600"]
                depends_on:
                  migrate: {condition: service_completed_successfully}
              migrate:
                image: busybox:latest
                command: ["sh", "-c", "exit 4"]
            """
        try await TestEngine.withClient { engine in
            do {
                _ = try await deploy(yaml, name: name, directory: directory, engine: engine)
                Issue.record("the deploy went on")
            } catch let failure as ComposeDeployer.StepFailure {
                #expect(failure.description == "\(name)-migrate-1 exited with code 4; app was not started")
            }
            #expect(try await ComposeDeployer.deployed(engine: engine, project: name).map(\.service) == ["migrate"])
            _ = try? compose(["down"], name: name, directory: directory)
        }
    }

    /// Services of one level run side by side; the first to fail ends the others' waits at once (not after their
    /// 120 s dependency timeout).
    @Test func aFailureInOneServiceOfALevelCancelsTheOthersWaits() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "bt" + UUID().uuidString.prefix(8).lowercased()
        let yaml = """
            services:
              quick:
                image: busybox:latest
                command: ["sh", "-c", "exit 4"]
              slow:
                image: busybox:latest
                command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
                healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 1000}
              after-quick:
                image: busybox:latest
                command: ["sleep", "3600"]
                depends_on: {quick: {condition: service_completed_successfully}}
              after-slow:
                image: busybox:latest
                command: ["sleep", "3600"]
                depends_on: {slow: {condition: service_healthy}}
            """
        try await TestEngine.withClient { engine in
            let started = ContinuousClock.now
            do {
                _ = try await deploy(yaml, name: name, directory: directory, engine: engine)
                Issue.record("the deploy went on")
            } catch let failure as ComposeDeployer.StepFailure {
                #expect(failure.description == "\(name)-quick-1 exited with code 4; after-quick was not started")
            }
            #expect(ContinuousClock.now - started < .seconds(30), "the wait for slow ended with the failure")
            let left = try await ComposeDeployer.deployed(engine: engine, project: name).map(\.service).sorted()
            #expect(left == ["quick", "slow"], "neither later service was made")
            _ = try? compose(["down"], name: name, directory: directory)
        }
    }

    /// `network_mode: service:web` joins web's container by the name web is given (its container_name), started after
    /// it; a network's driver options reach the engine.
    @Test func aServiceJoinsAnotherServicesNetworkByItsContainerNameAndNetworkOptionsArePassed() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "bt" + UUID().uuidString.prefix(8).lowercased()
        let yaml = """
            services:
              sidecar:
                image: busybox:latest
                command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
                network_mode: service:web
              web:
                image: busybox:latest
                container_name: \(name)-the-web
                command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
                networks: [back]
            networks:
              back:
                driver_opts:
                  com.docker.network.driver.mtu: "1400"
            """
        try await TestEngine.withClient { engine in
            do {
                let (plan, _) = try await deploy(yaml, name: name, directory: directory, engine: engine)
                #expect(plan.steps.map(\.service) == ["web", "sidecar"], "web starts first")
                let web = try await engine.inspectContainer("\(name)-the-web")
                let sidecar = try await engine.inspectContainer("\(name)-sidecar-1")
                #expect(sidecar.state?.running == true)
                let mode = sidecar.hostConfig?.networkMode ?? ""
                #expect(mode == "container:\(web.id)" || mode == "container:\(name)-the-web", "\(mode)")
                let network = try await engine.inspectNetwork("\(name)_back")
                #expect(network.options?["com.docker.network.driver.mtu"] == "1400")
            } catch {
                _ = try? compose(["down"], name: name, directory: directory)
                throw error
            }
            _ = try? compose(["down"], name: name, directory: directory)
        }
    }

    @Test func aRecreateThatFailsPutsTheOldContainerBackUnderItsName() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "bt" + UUID().uuidString.prefix(8).lowercased()
        let working = "services:\n  app:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
        try await TestEngine.withClient { engine in
            do {
                _ = try await deploy(working, name: name, directory: directory, engine: engine)
                let old = try await engine.inspectContainer("\(name)-app-1")
                do {
                    _ = try await deploy(working.replacingOccurrences(of: "[\"sh\"", with: "[\"/no/such/program\""), name: name, directory: directory, engine: engine)
                    Issue.record("a container whose program does not exist started")
                } catch let failure as ComposeDeployer.StepFailure {
                    #expect(failure.description.hasPrefix("recreating \(name)-app-1 (app) failed:"), "\(failure)")
                }
                let after = try await engine.inspectContainer("\(name)-app-1")
                #expect(after.id == old.id && after.state?.running == true, "the old one runs again under its name")
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).map(\.name) == ["\(name)-app-1"])
            } catch {
                _ = try? compose(["down"], name: name, directory: directory)
                throw error
            }
            _ = try? compose(["down"], name: name, directory: directory)
        }
    }

    @Test func aProjectStartedWithTheComposeCLIAppearsInBerthOperatorsStopAndStartItAdminsTakeItDown() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "bt" + UUID().uuidString.prefix(8).lowercased()
        try Data(Self.file().utf8).write(to: directory.appendingPathComponent("compose.yaml"))
        _ = try compose(["up", "-d"], name: name, directory: directory)
        do {
            try await TestEngine.withClient { engine in try await withTestApp { client, app in
                let viewer = try await signIn(client, as: "bt-viewer")
                let list = try await client.execute(uri: "/projects", method: .get, headers: viewer.getHeaders)
                #expect(list.status == .ok)
                #expect(list.text.contains(#"<tr data-project="\#(name)">"#) && list.text.contains("db, migrate, web"), "\(list.text)")
                #expect(list.text.contains(directory.appendingPathComponent("compose.yaml").path))
                let page = try await client.execute(uri: "/projects/\(name)", method: .get, headers: viewer.getHeaders)
                #expect(page.status == .ok)
                for service in ["db", "migrate", "web"] { #expect(page.text.contains(#"data-service="\#(service)""#), "\(service)") }
                #expect(page.text.contains("\(name)_web_1"), "the compose CLI's own names")
                let missing = try await client.execute(uri: "/projects/nosuch\(name)", method: .get, headers: viewer.getHeaders)
                #expect(missing.status == .notFound)

                // Operators stop and start it; only admins take it down, and then it is gone with its network and volume.
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                #expect(try await post(client, operatorBrowser, "/projects/\(name)/stop").headers[.location] == "/projects/\(name)")
                let afterStop = try await ComposeDeployer.deployed(engine: engine, project: name)
                #expect(afterStop.count == 3 && afterStop.allSatisfy { !$0.running })
                _ = try await post(client, operatorBrowser, "/projects/\(name)/start")
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).filter(\.running).count >= 2)
                #expect(try await post(client, operatorBrowser, "/projects/\(name)/down").status == .forbidden)
                let admin = try await signIn(client, as: "bt-admin")
                let down = try await post(client, admin, "/projects/\(name)/down", [("volumes", "1")])
                #expect(down.headers[.location] == "/projects")
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).isEmpty)
                #expect(try await engine.listNetworks().allSatisfy { $0.labels?["com.docker.compose.project"] != name })
                #expect(try await engine.listVolumes().allSatisfy { $0.labels?["com.docker.compose.project"] != name })
                let rows = try await app.auditEvents().filter { $0.targetName == name }
                #expect(Set(rows.map(\.action)).isSuperset(of: ["project.stop", "project.start", "project.down"]))
                #expect(try await app.auditEvents().contains { $0.action == "project.down" && $0.outcome == .denied && $0.actor == "bt-operator" })
                #expect(rows.contains { $0.action == "project.down" && $0.outcome == .ok && $0.parameters?.contains("volume.") == true })
            } }
        } catch {
            _ = try? compose(["down", "-v"], name: name, directory: directory)
            throw error
        }
        _ = try compose(["down", "-v"], name: name, directory: directory)
    }
}
