@testable import BerthWeb
import BerthStore
@testable import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Image updates against a real private registry: a new push of a tag a running container uses shows "update
/// available" after "check now"; pull and recreate brings the new image and keeps the container's configuration; a
/// registry that refuses shows its state and is asked again later by the schedule.
@Suite(.serialized) struct UpdateTests {
    func post(_ live: LiveStreamApp, _ browser: Browser, _ path: String, _ fields: [(String, String)] = []) async throws -> TestResponse {
        try await live.client.execute(
            uri: path, method: .post, headers: browser.postHeaders(), body: formBody([("_csrf", browser.csrfToken)] + fields)
        )
    }

    /// Posts `path`, which starts a job, and follows the job to its end; its last snapshot.
    func runJob(_ live: LiveStreamApp, _ browser: Browser, _ path: String) async throws -> [String: Any] {
        let posted = try await post(live, browser, path)
        let location = try #require(posted.headers[.location])
        #expect(location.hasPrefix("/jobs/"), "\(location)")
        let stream = try await live.open(location + "/stream", as: browser)
        defer { stream.close() }
        while let event = await stream.next(timeout: .seconds(60)) {
            if let json = event.json, let state = json["state"] as? String, !["queued", "running"].contains(state) { return json }
        }
        Issue.record("the job did not end")
        return [:]
    }

    /// A container of the tag, with a configuration recreate must keep.
    func runContainer(_ reference: String, name: String, networks: [String] = []) throws {
        let docker = "docker -H \(try TestEngine.address().description)"
        let network = networks.first.map { "--network \($0) --network-alias \(name)-a" } ?? "--network none"
        try TestUsers.shell(
            "sh", "-c",
            "\(docker) run -d --name \(name) \(network) --label \(TestEngine.label)=1 --label app=shop -e FOO=bar "
                + "-v \(name)-data:/data -v /cache --restart unless-stopped \(reference) sleep 3600 >/dev/null"
        )
        for more in networks.dropFirst() {
            try TestUsers.shell("sh", "-c", "\(docker) network connect --alias \(name)-b \(more) \(name)")
        }
    }

    @Test func aNewPushShowsUpdateAvailableAndPullAndRecreateBringsItKeepingTheConfiguration() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        try await registry.waitUntilServing()
        let tag = "t\(UUID().uuidString.prefix(8).lowercased())"
        let reference = try registry.pushImage(as: "berth/update", tag: tag)
        try registry.pull(reference)
        let name = TestEngine.uniqueName("upd")
        let docker = "docker -H \(try TestEngine.address().description)"
        let networks = ["\(name)-front", "\(name)-back"]
        for network in networks { try TestUsers.shell("sh", "-c", "\(docker) network create --label \(TestEngine.label)=1 \(network) >/dev/null") }
        try runContainer(reference, name: name, networks: networks)
        defer {
            _ = try? TestUsers.shell(
                "sh", "-c",
                "\(docker) rm -f \(name) >/dev/null 2>&1; \(docker) volume rm -f \(name)-data >/dev/null 2>&1; \(docker) rmi -f \(reference) >/dev/null 2>&1; "
                    + "\(docker) network rm \(networks.joined(separator: " ")) >/dev/null 2>&1"
            )
        }
        try await TestEngine.withClient { engine in
            let first = try await engine.inspectContainer(name).id
            let receiver = WebhookReceiver()
            try await receiver.start()
            defer { Task { await receiver.stop() } }
            try await withLiveStreamApp(configure: { $0.updateCheckInterval = 0; $0.alertsAllowLocal = true }) { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                // An alert rule on updates, to a webhook.
                _ = try await post(live, admin, "/alerts/channels", [
                    ("name", "updates"), ("kind", "webhook"), ("url", receiver.url), ("secret", "an-update-signing-secret"),
                ])
                let alertChannel = try #require(try await AppDatabase.open(path: live.app.configuration.databasePath).alertChannels().first?.id)
                _ = try await post(live, admin, "/alerts/rules", [
                    ("name", "newer images"), ("event-update", "1"), ("namePattern", "^\(name)$"), ("channel", String(alertChannel)),
                ])
                _ = try await post(live, admin, "/registries", [
                    ("registry", registry.address), ("username", registry.username), ("password", registry.password), ("shared", "1"),
                ])
                let operatorBrowser = try await signIn(live.client, as: "bt-operator")
                let current = try await runJob(live, operatorBrowser, "/images/updates/check")
                #expect(current["state"] as? String == "succeeded", "\(current)")
                let items = current["items"] as? [[String: Any]] ?? []
                #expect(items.contains { $0["id"] as? String == reference && ($0["status"] as? String)?.contains("up to date") == true }, "\(items)")
                let list = try await live.client.execute(uri: "/containers", method: .get, headers: operatorBrowser.getHeaders)
                #expect(list.text.contains(name) && !list.text.contains("update available"))

                // A new image under the same tag: the check says so, on the list and on the container's page.
                _ = try registry.pushImage(as: "berth/update", tag: tag)
                let found = try await runJob(live, operatorBrowser, "/images/updates/check")
                #expect((found["message"] as? String)?.contains("1 with a newer image") == true, "\(found)")
                let told = await receiver.waitFor(1, timeout: .seconds(10))
                #expect(told.first?.body.contains(#""event":"update""#) == true && told.first?.body.contains(name) == true, "\(told.map(\.body))")
                let marked = try await live.client.execute(uri: "/containers", method: .get, headers: operatorBrowser.getHeaders)
                #expect(marked.text.contains("update available"))
                let page = try await live.client.execute(uri: "/containers/\(name)", method: .get, headers: admin.getHeaders)
                #expect(page.text.contains(#"data-state="available""#) && page.text.contains("Pull and recreate"))
                // And on a dashboard that selects it.
                let dashboard = try await createDashboard(live.client, operatorBrowser, [
                    ("title", "Updates"), ("kind", "names"), ("selection", name), ("showStatus", "on"),
                ])
                let wall = try await live.client.execute(uri: "/dashboards/\(dashboard)", method: .get, headers: operatorBrowser.getHeaders)
                #expect(wall.text.contains(name) && wall.text.contains("update available"))

                // Operators may not recreate; admins do, as a job.
                let refused = try await post(live, operatorBrowser, "/containers/\(name)/recreate")
                #expect(refused.status == .forbidden)
                let recreated = try await runJob(live, admin, "/containers/\(name)/recreate")
                #expect(recreated["state"] as? String == "succeeded", "\(recreated)")
                #expect((recreated["message"] as? String)?.contains("→") == true)

                let now = try await engine.inspectContainer(name)
                #expect(now.id != first, "a new container")
                #expect(now.state?.running == true)
                let pulled = try await engine.inspectImage(reference)
                #expect(now.image == pulled.id, "it runs the new image")
                #expect(now.config?.env?.contains("FOO=bar") == true)
                #expect(now.config?.labels?["app"] == "shop")
                #expect(now.config?.cmd == ["sleep", "3600"])
                #expect(now.hostConfig?.restartPolicy?.name == "unless-stopped")
                let mounts = now.mounts ?? []
                #expect(mounts.contains { $0.name == "\(name)-data" && $0.destination == "/data" })
                #expect(mounts.contains { $0.destination == "/cache" && $0.type == "volume" })
                await #expect(throws: EngineError.self) { _ = try await engine.inspectContainer(first) }
                // Both networks, each with the alias it was given.
                let attached = try TestUsers.shell("sh", "-c", "\(docker) inspect --format '{{json .NetworkSettings.Networks}}' \(name)")
                let endpoints = try #require(try JSONSerialization.jsonObject(with: Data(attached.utf8)) as? [String: [String: Any]])
                #expect(Set(endpoints.keys) == Set(networks), "\(endpoints.keys)")
                #expect((endpoints[networks[0]]?["Aliases"] as? [String])?.contains("\(name)-a") == true, "\(attached)")
                #expect((endpoints[networks[1]]?["Aliases"] as? [String])?.contains("\(name)-b") == true, "\(attached)")

                // A container that removes itself when stopped is not recreated in place.
                let throwaway = TestEngine.uniqueName("rm")
                try TestUsers.shell("sh", "-c", "\(docker) run -d --rm --name \(throwaway) --network none --label \(TestEngine.label)=1 \(reference) sleep 3600 >/dev/null")
                let refusedRemoving = try await post(live, admin, "/containers/\(throwaway)/recreate")
                #expect(refusedRemoving.headers[.location] == "/containers/\(throwaway)")
                #expect(try await flash(after: refusedRemoving, live.client, admin)?.contains("--rm") == true)
                #expect(try await engine.inspectContainer(throwaway).state?.running == true)
                try TestUsers.shell("sh", "-c", "\(docker) rm -f \(throwaway) >/dev/null")

                let again = try await runJob(live, operatorBrowser, "/images/updates/check")
                #expect((again["message"] as? String)?.contains("0 with a newer image") == true, "\(again)")
                let rows = try await live.app.auditEvents()
                #expect(rows.contains { $0.action == "container.recreate" && $0.actor == "bt-admin" && $0.outcome == .ok && $0.parameters?.contains(pulled.id) == true })
                #expect(rows.filter { $0.action == "image.update-check" && $0.outcome == .ok }.count == 3)
                #expect(rows.contains { $0.action == "container.recreate" && $0.actor == "bt-operator" && $0.outcome == .denied })
                #expect(rows.filter { $0.action == "registry.login.use" }.count >= 4)
            }
        }
    }

    @Test func aRegistryThatRefusesShowsItsStateAndTheScheduleAsksAgainLater() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        try await registry.waitUntilServing()
        let reference = try registry.pushImage(as: "berth/refuse", tag: "t\(UUID().uuidString.prefix(8).lowercased())")
        try registry.pull(reference)
        let name = TestEngine.uniqueName("ref")
        try runContainer(reference, name: name)
        let docker = "docker -H \(try TestEngine.address().description)"
        defer {
            _ = try? TestUsers.shell("sh", "-c", "\(docker) rm -f \(name) >/dev/null 2>&1; \(docker) volume rm -f \(name)-data >/dev/null 2>&1; \(docker) rmi -f \(reference) >/dev/null 2>&1")
        }
        try await withLiveStreamApp(configure: { $0.updateCheckInterval = 2 }) { live in
            let operatorBrowser = try await signIn(live.client, as: "bt-operator")
            let refused = try await runJob(live, operatorBrowser, "/images/updates/check")
            // Other tests' containers may be checked too (and fail: Docker Hub is out of reach here): look at this tag.
            let items = refused["items"] as? [[String: Any]] ?? []
            #expect(items.contains { $0["id"] as? String == reference && ($0["status"] as? String)?.contains("could not be checked") == true }, "\(items)")
            let page = try await live.client.execute(uri: "/containers/\(name)", method: .get, headers: operatorBrowser.getHeaders)
            #expect(page.text.contains(#"data-state="failed""#) && page.text.contains("wants a login"))
            let database = try AppDatabase.open(path: live.app.configuration.databasePath)
            let failed = try #require(try await database.imageUpdates().first { $0.reference == reference })
            #expect(failed.state == .failed && failed.failures >= 1 && failed.retryAt != nil)

            // With a login to answer it, the schedule's next look finds it up to date — no one asked again.
            let admin = try await signIn(live.client, as: "bt-admin")
            _ = try await post(live, admin, "/registries", [
                ("registry", registry.address), ("username", registry.username), ("password", registry.password), ("shared", "1"),
            ])
            var state: ImageUpdate.State?
            for _ in 0..<150 {
                state = try await database.imageUpdates().first { $0.reference == reference }?.state
                if state == .current { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(state == .current)
            let rows = try await live.app.auditEvents()
            #expect(rows.contains { $0.action == "image.update-check" && $0.actor == "berth (update check)" && $0.outcome == .ok })
            let jobs = try await live.client.execute(uri: "/jobs", method: .get, headers: operatorBrowser.getHeaders)
            #expect(jobs.text.contains("Scheduled update check"))
        }
    }

    @Test func registriesAreAddressedAsTheEngineAddressesThem() throws {
        let hub = RegistryClient.endpoint(of: try ImageReference(parsing: "busybox:1"))
        #expect(hub.base == "https://registry-1.docker.io" && hub.path == "library/busybox" && !hub.loopback)
        let hubLong = RegistryClient.endpoint(of: try ImageReference(parsing: "docker.io/library/nginx:1"))
        #expect(hubLong.base == "https://registry-1.docker.io" && hubLong.path == "library/nginx")
        let team = RegistryClient.endpoint(of: try ImageReference(parsing: "index.docker.io/team/app"))
        #expect(team.base == "https://registry-1.docker.io" && team.path == "team/app")
        let local = RegistryClient.endpoint(of: try ImageReference(parsing: "127.0.0.1:5000/team/app:2"))
        #expect(local.base == "http://127.0.0.1:5000" && local.path == "team/app" && local.loopback)
        let lookalike = RegistryClient.endpoint(of: try ImageReference(parsing: "127.example.com/app"))
        #expect(lookalike.base == "https://127.example.com" && !lookalike.loopback)
        #expect(RegistryClient.familiar("docker.io/library/busybox") == "busybox" && RegistryClient.familiar("a/b") == "a/b")
        #expect(RegistryLogins.registry(of: try ImageReference(parsing: "Index.docker.io/team/app".lowercased())) == "docker.io")
        let challenge = RegistryClient.challengeParameters(#" realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#)
        #expect(challenge == ["realm": "https://auth.example.com/token", "service": "registry.example.com", "scope": "repository:a/b:pull"])
    }
}
