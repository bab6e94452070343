@testable import BerthWeb
import BerthStore
import Compose
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Berth's own compose projects through the pages, on the real engine: written in the editor, saved as versions,
/// planned, deployed as jobs, compared and rolled back; who may do which.
@Suite(.serialized) struct ProjectTests {
    /// The issue's three services (`ComposeDeployTests.file`); web's greeting comes from `.env`.
    static let file = ComposeDeployTests.file(web: "${GREETING:-hello}")

    static func name() -> String { "bp" + UUID().uuidString.prefix(8).lowercased() }

    func save(_ client: some TestClientProtocol, _ browser: Browser, _ name: String, env: String, basedOn: Int, message: String) async throws -> TestResponse {
        try await post(client, browser, "/projects/\(name)/save", [
            ("compose", Self.file), ("env", env), ("basedOn", String(basedOn)), ("message", message),
        ])
    }

    func deploy(_ client: some TestClientProtocol, _ browser: Browser, _ app: TestApp, _ name: String, version: Int) async throws -> JobRecord {
        try await finishedJob(after: startDeploy(client, browser, name, version: version), app, timeout: .seconds(90))
    }

    /// The plan's Deploy button: the job's start.
    func startDeploy(_ client: some TestClientProtocol, _ browser: Browser, _ name: String, version: Int) async throws -> TestResponse {
        let plan = try await client.execute(uri: "/projects/\(name)/plan?version=\(version)", method: .get, headers: browser.getHeaders)
        let hash = try #require(plan.text.firstMatch(of: /name="hash" value="([0-9a-f]{64})"/)?.1, "\(plan.text)")
        return try await post(client, browser, "/projects/\(name)/deploy", [("version", String(version)), ("hash", String(hash))])
    }

    @Test func anAdminWritesAProjectAnOperatorDeploysItAnEditRecreatesOnlyItsServiceAndARollbackRestoresIt() async throws {
        let name = Self.name()
        try await TestEngine.withClient { engine in try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let operatorBrowser = try await signIn(client, as: "bt-operator")
            do {
                try await deployAndRollBack(name, client, app, engine, admin, operatorBrowser)
            } catch {
                _ = try? await post(client, admin, "/projects/\(name)/down", [("volumes", "1")])
                throw error
            }
            let down = try await post(client, admin, "/projects/\(name)/down", [("volumes", "1")])
            #expect(try await flash(after: down, client, admin)?.contains("Took down \(name)") == true)
            let downRow = try await app.auditEvents().first { $0.action == "project.down" && $0.targetName == name }
            #expect(downRow?.parameters?.contains("\"version\":\"1\"") == true && downRow?.parameters?.contains("\"hash\"") == true)
        } }
    }

    func deployAndRollBack(
        _ name: String, _ client: some TestClientProtocol, _ app: TestApp, _ engine: EngineClient, _ admin: Browser, _ operatorBrowser: Browser
    ) async throws {

            // Created in the editor: version 1, its files in the project's folder, one audited save with the hash.
            let form = try await client.execute(uri: "/projects/new", method: .get, headers: admin.getHeaders)
            #expect(form.status == .ok && form.text.contains(#"<textarea name="compose" id="compose""#))
            let created = try await post(client, admin, "/projects", [
                ("name", name), ("compose", Self.file.replacingOccurrences(of: "\n", with: "\r\n")), ("env", "GREETING=hi\n"), ("message", "first"),
            ])
            #expect(created.headers[.location] == "/projects/\(name)", "\(created.text)")
            let database = try AppDatabase.open(path: app.configuration.databasePath)
            let first = try #require(try await database.projectVersion(name, number: 1))
            #expect(first.composeFile == Self.file && first.author == "bt-admin" && first.message == "first")
            let folder = URL(fileURLWithPath: app.configuration.projectsPath).appendingPathComponent(name)
            #expect(try String(contentsOf: folder.appendingPathComponent("compose.yaml"), encoding: .utf8) == Self.file)
            #expect(try String(contentsOf: folder.appendingPathComponent(".env"), encoding: .utf8) == "GREETING=hi\n")

            // An operator sees the plan (all three created) and deploys it as a job: in order, web after the others.
            let plan = try await client.execute(uri: "/projects/\(name)/plan", method: .get, headers: operatorBrowser.getHeaders)
            #expect(plan.status == .ok)
            for service in ["db", "migrate", "web"] {
                #expect(plan.text.contains(#"<tr data-service="\#(service)" data-action="create">"#), "\(service): \(plan.text)")
            }
            let started = try await startDeploy(client, operatorBrowser, name, version: 1)
            // A second deploy while the first runs is refused (two would make the same containers).
            let meanwhile = try await startDeploy(client, admin, name, version: 1)
            #expect(try await flash(after: meanwhile, client, admin)?.contains("is under way") == true)
            let job = try await finishedJob(after: started, app, timeout: .seconds(90))
            #expect(job.state == .succeeded, "\(job.log ?? "")")
            #expect((job.log ?? "").contains("waiting for \(name)-db-1 to be healthy"), "\(job.log)")
            let web = try await engine.inspectContainer("\(name)-web-1")
            #expect(web.state?.running == true && web.config?.env?.contains("GREETING=hi") == true)
            #expect(web.config?.labels?[ProjectDeployment.versionLabel] == "1")
            #expect(web.config?.labels?[ComposeLabel.configFiles] == folder.appendingPathComponent("compose.yaml").path)
            let firstHash = web.config?.labels?[ComposeLabel.configHash]
            let db = try await engine.inspectContainer("\(name)-db-1")
            let scratch = try #require(web.mounts?.first { $0.destination == "/scratch" }?.name)

            // The admin changes the greeting: version 2. Its plan recreates only web, naming what changed.
            let saved = try await save(client, admin, name, env: "GREETING=bye\n", basedOn: 1, message: "say bye")
            #expect(saved.headers[.location] == "/projects/\(name)")
            let secondPlan = try await client.execute(uri: "/projects/\(name)/plan?version=2", method: .get, headers: operatorBrowser.getHeaders)
            #expect(secondPlan.text.contains(#"<tr data-service="web" data-action="recreate">"#), "\(secondPlan.text)")
            #expect(secondPlan.text.contains("changed: environment"), "\(secondPlan.text)")
            #expect(secondPlan.text.contains(#"<tr data-service="db" data-action="keep">"#))
            #expect(try await deploy(client, operatorBrowser, app, name, version: 2).state == .succeeded)
            let second = try await engine.inspectContainer("\(name)-web-1")
            #expect(second.id != web.id && second.config?.env?.contains("GREETING=bye") == true)
            #expect(second.config?.labels?[ProjectDeployment.versionLabel] == "2")
            #expect(second.mounts?.first { $0.destination == "/scratch" }?.name == scratch, "the anonymous volume goes to the new web")
            #expect(try await engine.inspectContainer("\(name)-db-1").id == db.id, "db untouched")

            // A save that changes nothing is no version; one based on an old version is refused.
            _ = try await save(client, admin, name, env: "GREETING=bye\n", basedOn: 2, message: "again")
            #expect(try await database.projectVersions(name).count == 2)
            let stale = try await save(client, admin, name, env: "GREETING=stale\n", basedOn: 1, message: "old")
            #expect(stale.status == .unprocessableContent && stale.text.contains("while you edited version 1"))

            // The difference, side by side — for admins: the files can hold secrets.
            #expect(try await client.execute(uri: "/projects/\(name)/diff?from=1&to=2", method: .get, headers: operatorBrowser.getHeaders).status == .forbidden)
            #expect(try await client.execute(uri: "/projects/\(name)/versions/1", method: .get, headers: operatorBrowser.getHeaders).status == .forbidden)
            let diff = try await client.execute(uri: "/projects/\(name)/diff?from=1&to=2", method: .get, headers: admin.getHeaders)
            #expect(diff.text.contains(#"<tr class="diff-changed"><td class="diff-line">1</td><td class="diff-old"><pre>GREETING=hi</pre></td>"#), "\(diff.text)")
            #expect(diff.text.contains("<pre>GREETING=bye</pre>"))

            // Rollback: version 1 deployed again restores its configuration hash; web's anonymous volume stays with it.
            let back = try await client.execute(uri: "/projects/\(name)/plan?version=1", method: .get, headers: operatorBrowser.getHeaders)
            #expect(back.text.contains("Roll back \(name) to version 1"))
            #expect(try await deploy(client, operatorBrowser, app, name, version: 1).state == .succeeded)
            let rolledBack = try await engine.inspectContainer("\(name)-web-1")
            #expect(rolledBack.config?.labels?[ComposeLabel.configHash] == firstHash)
            #expect(rolledBack.config?.env?.contains("GREETING=hi") == true)
            #expect(rolledBack.mounts?.first { $0.destination == "/scratch" }?.name == scratch)

            // The project page: versions, the running one marked, merged logs linked.
            let page = try await client.execute(uri: "/projects/\(name)", method: .get, headers: operatorBrowser.getHeaders)
            #expect(page.text.contains(#"<tr data-version="2">"#) && page.text.contains("running v1"), "\(page.text)")
            #expect(page.text.contains("/projects/\(name)/logs"))
            let logs = try await client.execute(uri: "/projects/\(name)/logs", method: .get, headers: operatorBrowser.getHeaders)
            #expect(logs.status == .ok && logs.text.contains("Logs of \(name)"))
            for service in ["db", "migrate", "web"] { #expect(logs.text.contains("container=\(try await engine.inspectContainer("\(name)-\(service)-1").id)")) }
            #expect(!page.text.contains("/projects/\(name)/edit"), "operators don't edit")

            let rows = try await app.auditEvents().filter { $0.targetName == name }
            let saves = rows.filter { $0.action == "project.save" && $0.outcome == .ok }
            #expect(saves.count == 3 && saves.contains { $0.parameters?.contains(first.contentHash) == true })
            let deploys = rows.filter { $0.action == "project.deploy" && $0.outcome == .ok }
            #expect(deploys.count == 3 && deploys.allSatisfy { $0.actor == "bt-operator" && $0.parameters?.contains("\"hash\"") == true })
            #expect(rows.contains { $0.action == "project.deploy" && $0.outcome == .error && $0.actor == "bt-admin" }, "the refused second deploy")
            #expect(rows.contains { $0.action == "project.save" && $0.outcome == .error && $0.errorMessage?.contains("while you edited") == true })
    }

    @Test func errorsAreShownAtTheirLinesAndAdminOnlySettingsNeedAnAdmin() async throws {
        let name = Self.name()
        try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let operatorBrowser = try await signIn(client, as: "bt-operator")
            #expect(try await post(client, operatorBrowser, "/projects", [("name", name), ("compose", Self.file)]).status == .forbidden)

            let broken = """
                services:
                  web:
                    image: busybox
                    build: .
                    environment:
                      TOKEN: ${TOKEN:?set TOKEN in .env}

                """
            let refused = try await post(client, admin, "/projects", [("name", name), ("compose", broken), ("env", "")])
            #expect(refused.status == .unprocessableContent)
            #expect(refused.text.contains(#"data-line="4">line 4</a>"#) && refused.text.contains("build"), "\(refused.text)")
            #expect(refused.text.contains("set TOKEN in .env"), "\(refused.text)")
            #expect(refused.text.contains(#"data-error-lines="4,"#) || refused.text.contains(#"data-error-lines="4""#), "\(refused.text)")
            #expect(refused.text.contains("TOKEN: ${TOKEN:?set TOKEN in .env}"), "what was typed is kept")
            // Bytes that are no UTF-8 are refused, not saved as escapes.
            let garbled = try await client.execute(
                uri: "/projects", method: .post, headers: admin.postHeaders(),
                body: ByteBuffer(string: "name=\(name)&compose=services%3A%0A%FF%FE&env=&basedOn=0")
            )
            #expect(garbled.status == .unprocessableContent && garbled.text.contains("did not arrive as UTF-8"), "\(garbled.text)")
            let database = try AppDatabase.open(path: app.configuration.databasePath)
            #expect(try await database.projectVersions(name).isEmpty)
            #expect(try await app.auditEvents().contains { $0.action == "project.save" && $0.outcome == .error && $0.targetName == name })

            // With a bind mount: saved by the admin, but an operator may not deploy it (denied, on record).
            let bind = """
                services:
                  web:
                    image: busybox:latest
                    volumes: ["/etc:/host-etc:ro"]

                """
            #expect(try await post(client, admin, "/projects", [("name", name), ("compose", bind)]).headers[.location] == "/projects/\(name)")
            let plan = try await client.execute(uri: "/projects/\(name)/plan", method: .get, headers: operatorBrowser.getHeaders)
            #expect(plan.text.contains("Settings only an admin may deploy") && plan.text.contains("bind mount of /etc"), "\(plan.text)")
            #expect(!plan.text.contains("/projects/\(name)/deploy"), "no deploy button for the operator")
            let denied = try await post(client, operatorBrowser, "/projects/\(name)/deploy", [("version", "1")])
            #expect(denied.headers[.location]?.hasPrefix("/jobs/") != true)
            #expect(try await flash(after: denied, client, operatorBrowser)?.contains("Only an admin") == true)
            #expect(try await app.auditEvents().contains { $0.action == "project.deploy" && $0.outcome == .denied && $0.actor == "bt-operator" })
            let adminPlan = try await client.execute(uri: "/projects/\(name)/plan", method: .get, headers: admin.getHeaders)
            #expect(adminPlan.text.contains("/projects/\(name)/deploy"))

            // Removed by an admin (nothing of it runs): its versions and folder are gone, its hash stays on record.
            #expect(try await post(client, operatorBrowser, "/projects/\(name)/remove").status == .forbidden)
            let removed = try await post(client, admin, "/projects/\(name)/remove")
            #expect(removed.headers[.location] == "/projects")
            #expect(try await database.projectVersions(name).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: app.configuration.projectsPath).appendingPathComponent(name).path))
            #expect(try await app.auditEvents().contains { $0.action == "project.remove" && $0.outcome == .ok && $0.targetName == name })
        }
    }

    @Test func aScaleAddsContainersAndAPullOfANewerImageMakesTheNextPlanRecreate() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        try await registry.waitUntilServing()
        let tag = "t\(UUID().uuidString.prefix(8).lowercased())"
        let reference = try registry.pushImage(as: "berth/project", tag: tag)
        let name = Self.name()
        let file = """
            services:
              app:
                image: \(reference)
                command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]

            """
        try await TestEngine.withClient { engine in try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let operatorBrowser = try await signIn(client, as: "bt-operator")
            _ = try await post(client, operatorBrowser, "/registries", [
                ("registry", registry.address), ("username", registry.username), ("password", registry.password),
            ])
            _ = try await post(client, admin, "/projects", [("name", name), ("compose", file)])
            do {
                // The deploy pulls the missing image with the operator's saved login.
                #expect(try await deploy(client, operatorBrowser, app, name, version: 1).state == .succeeded)
                let first = try await engine.inspectContainer("\(name)-app-1")

                // Scaled to 3 for this deploy: two more containers; the file's plan would take them away again.
                let scaled = try await post(client, operatorBrowser, "/projects/\(name)/scale", [("service", "app"), ("replicas", "3")])
                #expect(try await finishedJob(after: scaled, app).state == .succeeded)
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).filter(\.running).count == 3)
                let plan = try await client.execute(uri: "/projects/\(name)/plan", method: .get, headers: operatorBrowser.getHeaders)
                #expect(plan.text.components(separatedBy: #"data-action="remove""#).count == 3, "\(plan.text)")
                let refused = try await post(client, operatorBrowser, "/projects/\(name)/scale", [("service", "nosuch"), ("replicas", "2")])
                #expect(try await flash(after: refused, client, operatorBrowser)?.contains("no service nosuch") == true)

                // A newer push of the tag: "Pull images" finds it, and the next plan recreates app for its image.
                _ = try registry.pushImage(as: "berth/project", tag: tag)
                let pulled = try await post(client, operatorBrowser, "/projects/\(name)/pull")
                let pullJob = try await finishedJob(after: pulled, app)
                #expect(pullJob.state == .succeeded && pullJob.message?.contains("newer \(reference)") == true, "\(String(describing: pullJob.message))")
                let again = try await client.execute(uri: "/projects/\(name)/plan", method: .get, headers: operatorBrowser.getHeaders)
                #expect(again.text.contains(#"<tr data-service="app" data-action="recreate">"#) && again.text.contains("changed: image"), "\(again.text)")
                #expect(try await deploy(client, operatorBrowser, app, name, version: 1).state == .succeeded)
                let renewed = try await engine.inspectContainer("\(name)-app-1")
                #expect(renewed.image != first.image && renewed.state?.running == true)

                let rows = try await app.auditEvents().filter { $0.targetName == name }
                #expect(rows.contains { $0.action == "project.scale" && $0.outcome == .ok && $0.parameters?.contains("\"replicas\":\"3\"") == true })
                #expect(rows.contains { $0.action == "project.scale" && $0.outcome == .error })
                #expect(rows.contains { $0.action == "project.pull" && $0.outcome == .ok })
                #expect(try await app.auditEvents().contains { $0.action == "registry.login.use" && $0.actor == "bt-operator" })
            } catch {
                _ = try? await post(client, admin, "/projects/\(name)/down", [("volumes", "1")])
                throw error
            }
            _ = try await post(client, admin, "/projects/\(name)/down", [("volumes", "1")])
        } }
        try? await TestEngine.withClient { engine in _ = try await engine.removeImage(reference, force: true) }
    }

    @Test func theEventsOfAProjectAreThoseOfItsContainers() {
        let filter = EventFilter(types: [], actions: [], project: "shop")
        let mine = EngineEvent(type: "container", action: "start", actor: .init(id: "a", attributes: ["com.docker.compose.project": "shop"]))
        let other = EngineEvent(type: "container", action: "start", actor: .init(id: "b", attributes: ["com.docker.compose.project": "blog"]))
        let unlabelled = EngineEvent(type: "image", action: "pull", actor: .init(id: "c"))
        #expect(filter.matches(mine) && !filter.matches(other) && !filter.matches(unlabelled))
        #expect(EventFilter(types: [], actions: []).matches(unlabelled))
    }

    @Test func anAdminImportsAProjectTheComposeCLIStartedAndBerthDeploysItFromItsOwnFolder() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = Self.name()
        let file = """
            services:
              app:
                image: busybox:latest
                command: ["sh", "-c", "trap 'exit 0' TERM; echo $$GREETING; sleep 3600 & wait"]
                environment:
                  GREETING: ${GREETING}

            """
        try Data(file.utf8).write(to: directory.appendingPathComponent("compose.yaml"))
        try Data("GREETING=from-cli\n".utf8).write(to: directory.appendingPathComponent(".env"))
        let cli = ComposeDeployTests()
        _ = try cli.compose(["up", "-d"], name: name, directory: directory)
        do {
            try await TestEngine.withClient { engine in try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                #expect(try await post(client, operatorBrowser, "/projects/\(name)/import").status == .forbidden)
                let admin = try await signIn(client, as: "bt-admin")
                let page = try await client.execute(uri: "/projects/\(name)", method: .get, headers: admin.getHeaders)
                #expect(page.text.contains("external") && page.text.contains("/projects/\(name)/import"))

                let imported = try await post(client, admin, "/projects/\(name)/import")
                let path = directory.appendingPathComponent("compose.yaml").path
                #expect(try await flash(after: imported, client, admin)?.contains("Imported \(path) as version 1") == true)
                let database = try AppDatabase.open(path: app.configuration.databasePath)
                let version = try #require(try await database.projectVersion(name, number: 1))
                #expect(version.composeFile == file && version.envFile == "GREETING=from-cli\n" && version.message == "imported from \(path)")
                let again = try await post(client, admin, "/projects/\(name)/import")
                let againSaid = try await flash(after: again, client, admin)
                #expect(againSaid?.contains("already: edit it instead") == true, "\(String(describing: againSaid)) \(again.status) \(again.text.prefix(300))")

                // A label that points at a device (or anything but a small regular file) is refused, never read.
                let odd = name + "x"
                let labels = [ComposeLabel.project: odd, ComposeLabel.service: "app", ComposeLabel.configFiles: "/dev/zero"]
                let made = try await engine.createContainer(
                    ContainerCreateRequest(image: "busybox:latest", cmd: ["true"], labels: labels, hostConfig: .init(networkMode: "none")),
                    name: odd + "-app-1"
                )
                let device = try await post(client, admin, "/projects/\(odd)/import")
                let deviceSaid = try await flash(after: device, client, admin)
                try await engine.removeContainer(made.id, force: true)
                #expect(deviceSaid?.contains("/dev/zero is not a regular file") == true, "\(String(describing: deviceSaid))")

                // Deployed by Berth: the CLI's container is made anew under Berth's name, from Berth's folder.
                let plan = try await client.execute(uri: "/projects/\(name)/plan", method: .get, headers: admin.getHeaders)
                #expect(plan.text.contains(#"<tr data-service="app" data-action="recreate">"#), "\(plan.text)")
                #expect(try await deploy(client, admin, app, name, version: 1).state == .succeeded)
                let container = try await engine.inspectContainer("\(name)-app-1")
                #expect(container.state?.running == true && container.config?.env?.contains("GREETING=from-cli") == true)
                #expect(container.config?.labels?[ComposeLabel.workingDir] == URL(fileURLWithPath: app.configuration.projectsPath).appendingPathComponent(name).path)
                #expect(try await ComposeDeployer.deployed(engine: engine, project: name).count == 1)
                let rows = try await app.auditEvents().filter { $0.targetName == name && $0.action == "project.import" }
                #expect(rows.contains { $0.outcome == .ok && $0.parameters?.contains(version.contentHash) == true })
                #expect(try await app.auditEvents().contains { $0.action == "project.import" && $0.outcome == .denied && $0.actor == "bt-operator" })
                _ = try await post(client, admin, "/projects/\(name)/down", [("volumes", "1")])
            } }
        } catch {
            _ = try? cli.compose(["down", "-v"], name: name, directory: directory)
            throw error
        }
    }
}
