@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Pulls through Berth from a real private registry with htpasswd auth, progress read as the browser reads it.
@Suite(.serialized) struct ImagePullTests {
    /// Posts the pull form and follows the job's stream to its end: the last snapshot and every one before.
    func pull(
        _ live: LiveStreamApp, _ browser: Browser, _ reference: String, username: String = "", password: String = ""
    ) async throws -> (last: [String: Any]?, progress: [[String: Any]]) {
        let posted = try await live.client.execute(
            uri: "/images/pull", method: .post, headers: browser.postHeaders(),
            body: formBody([("_csrf", browser.csrfToken), ("reference", reference), ("username", username), ("password", password)])
        )
        #expect(posted.status == .seeOther)
        let location = try #require(posted.headers[.location])
        #expect(location.hasPrefix("/jobs/"))
        let page = try await live.client.execute(uri: location, method: .get, headers: browser.getHeaders)
        #expect(page.status == .ok)
        let stream = try await live.open(location + "/stream", as: browser)
        defer { stream.close() }
        var progress: [[String: Any]] = []
        while let event = await stream.next(timeout: .seconds(60)) {
            guard event.event == "job", let json = event.json else { continue }
            progress.append(json)
            if let state = json["state"] as? String, !["queued", "running"].contains(state) { return (json, progress) }
        }
        return (nil, progress)
    }

    @Test func pullsFromAPrivateRegistryOnlyWithTheRightCredentialsAndNeverKeepsThem() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        try await registry.waitUntilServing()
        let tag = "t\(UUID().uuidString.prefix(8).lowercased())"
        let reference = try registry.pushImage(as: "berth/pulltest", tag: tag)
        try await TestEngine.withClient { engine in
            await #expect(throws: EngineError.self) { _ = try await engine.inspectImage(reference) }
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-operator")

                let anonymous = try await pull(live, browser, reference)
                #expect(anonymous.last?["state"] as? String == "failed")
                let anonymousMessage = anonymous.last?["message"] as? String ?? ""
                #expect(anonymousMessage.contains("auth") || anonymousMessage.contains("unauthorized"), "\(anonymousMessage)")

                let wrong = try await pull(live, browser, reference, username: registry.username, password: "not-the-password")
                #expect(wrong.last?["state"] as? String == "failed")
                let wrongMessage = wrong.last?["message"] as? String ?? ""
                #expect(wrongMessage.contains("unauthorized") || wrongMessage.contains("auth"), "\(wrongMessage)")
                await #expect(throws: EngineError.self) { _ = try await engine.inspectImage(reference) }

                let right = try await pull(live, browser, reference, username: registry.username, password: registry.password)
                #expect(right.last?["state"] as? String == "succeeded", "\(String(describing: right.last))")
                #expect((right.last?["message"] as? String)?.contains("(sha256:") == true)
                let image = try await engine.inspectImage(reference)
                #expect(image.repoTags?.contains(reference) == true)
                // Progress came in order and ended complete: every layer done, bytes all there.
                let last = try #require(right.progress.last)
                let layers = try #require(last["items"] as? [[String: Any]])
                #expect(!layers.isEmpty)
                #expect(layers.allSatisfy { $0["done"] as? Bool == true })
                #expect(last["current"] as? Int == last["total"] as? Int)
                let done = right.progress.map { ($0["items"] as? [[String: Any]] ?? []).filter { $0["done"] as? Bool == true }.count }
                #expect(done == done.sorted(), "progress never goes back")

                // The list shows it.
                let list = try await live.client.execute(uri: "/images", method: .get, headers: browser.getHeaders)
                #expect(list.text.contains(reference))

                // One audit row per pull; the reference and registry are kept, the credentials nowhere.
                let pulls = try await live.app.auditEvents().filter { $0.action == "image.pull" }
                #expect(pulls.map(\.outcome) == [.ok, .error, .error])
                #expect(pulls.allSatisfy { $0.targetName == reference && $0.parameters?.contains(registry.address) == true })
                #expect(pulls.first?.targetId?.hasPrefix("sha256:") == true)
                #expect(pulls[1].errorMessage?.isEmpty == false)
                let files = [live.app.configuration.databasePath, live.app.configuration.databasePath + "-wal"]
                for file in files where FileManager.default.fileExists(atPath: file) {
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                    #expect(bytes.range(of: Data(registry.password.utf8)) == nil, "no password in \(file)")
                    #expect(bytes.range(of: Data("not-the-password".utf8)) == nil, "no wrong password in \(file)")
                }
            }
            _ = try? await engine.removeImage(reference)
        }
    }

    @Test func aBadReferenceAViewerAndAnUnknownJobAreRefused() async throws {
        try await withLiveStreamApp { live in
            let operatorBrowser = try await signIn(live.client, as: "bt-operator")
            let bad = try await live.client.execute(
                uri: "/images/pull", method: .post, headers: operatorBrowser.postHeaders(),
                body: formBody([("_csrf", operatorBrowser.csrfToken), ("reference", "Upper/Case Image")])
            )
            #expect(bad.status == .seeOther)
            #expect(bad.headers[.location] == "/images")
            let halfCredentials = try await live.client.execute(
                uri: "/images/pull", method: .post, headers: operatorBrowser.postHeaders(),
                body: formBody([("_csrf", operatorBrowser.csrfToken), ("reference", "busybox"), ("username", "someone")])
            )
            #expect(halfCredentials.headers[.location] == "/images")

            let viewer = try await signIn(live.client, as: "bt-viewer")
            let refused = try await live.client.execute(
                uri: "/images/pull", method: .post, headers: viewer.postHeaders(),
                body: formBody([("_csrf", viewer.csrfToken), ("reference", "busybox")])
            )
            #expect(refused.status == .forbidden)
            for path in ["/jobs/999999", "/jobs/not-a-job", "/jobs/999999/stream"] {
                let unknown = try await live.client.execute(uri: path, method: .get, headers: operatorBrowser.getHeaders)
                #expect(unknown.status == .notFound, "\(path)")
            }

            let events = try await live.app.auditEvents().filter { $0.action == "image.pull" }
            #expect(events.contains { $0.outcome == .error && $0.actor == "bt-operator" && $0.errorMessage?.contains("can't be part of an image name") == true })
            #expect(events.contains { $0.outcome == .denied && $0.actor == "bt-viewer" })
        }
    }

    @Test func referencesAreReadAsTheEngineReadsThem() throws {
        let plain = try ImageReference(parsing: "busybox")
        #expect(plain.repository == "busybox" && plain.tag == nil && plain.registry == nil && plain.description == "busybox:latest")
        let full = try ImageReference(parsing: "127.0.0.1:5000/team/app:1.2")
        #expect(full.repository == "127.0.0.1:5000/team/app" && full.tag == "1.2" && full.registry == "127.0.0.1:5000")
        let hub = try ImageReference(parsing: "library/alpine:3")
        #expect(hub.registry == nil && hub.tag == "3")
        let digest = String(repeating: "a", count: 64)
        let pinned = try ImageReference(parsing: "registry.example.com/app@sha256:\(digest)")
        #expect(pinned.digest == "sha256:\(digest)" && pinned.registry == "registry.example.com" && pinned.tag == nil)
        for bad in ["", "UPPER", "a b", "app:", "app:-x", "app@sha256:123", "/app", "app//x", "app:1?x=1"] {
            #expect(throws: InvalidReference.self, "\(bad)") { _ = try ImageReference(parsing: bad) }
        }
    }

    @Test func progressIsFoldedPerLayer() {
        var progress = PullProgress()
        progress.apply(PullProgressMessage(status: "Pulling from team/app", id: "1.2"))
        progress.apply(PullProgressMessage(status: "Pulling fs layer", id: "aaa"))
        progress.apply(PullProgressMessage(status: "Pulling fs layer", id: "bbb"))
        progress.apply(PullProgressMessage(status: "Downloading", id: "aaa", progressDetail: .init(current: 50, total: 100)))
        progress.apply(PullProgressMessage(status: "Downloading", id: "bbb", progressDetail: .init(current: 10, total: 300)))
        #expect(progress.bytes.current == 60 && progress.bytes.total == 400)
        progress.apply(PullProgressMessage(status: "Download complete", id: "aaa"))
        progress.apply(PullProgressMessage(status: "Pull complete", id: "aaa"))
        #expect(progress.bytes.current == 110 && progress.bytes.total == 400)
        #expect(progress.layersDone == 1)
        progress.apply(PullProgressMessage(status: "Already exists", id: "ccc"))
        progress.apply(PullProgressMessage(status: "Digest: sha256:abc"))
        progress.apply(PullProgressMessage(status: "Status: Downloaded newer image for team/app:1.2"))
        #expect(progress.layersDone == 2)
        #expect(progress.layers.map(\.id) == ["aaa", "bbb", "ccc"])
        #expect(progress.digest == "sha256:abc")
        #expect(progress.notes.count == 3 && progress.notesSeen == 3)
        progress.apply(PullProgressMessage(error: "unauthorized: authentication required"))
        #expect(progress.error == "unauthorized: authentication required")
    }
}
