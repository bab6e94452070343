@testable import BerthWeb
import BerthStore
import Crypto
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Saved registry logins: sealed with the key file (never in the database), used by pulls with each use on record,
/// shared ones by admins only, and a lost key file makes them unusable with words that say so — nothing else.
@Suite(.serialized) struct RegistryLoginTests {
    func post(_ live: LiveStreamApp, _ browser: Browser, _ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        try await live.client.execute(
            uri: path, method: .post, headers: browser.postHeaders(), body: formBody([("_csrf", browser.csrfToken)] + fields)
        )
    }

    /// Pulls `reference` with no login typed; follows the job to its end and returns its last snapshot.
    func pullWithoutTypedLogin(_ live: LiveStreamApp, _ browser: Browser, _ reference: String) async throws -> [String: Any]? {
        let posted = try await post(live, browser, "/images/pull", [("reference", reference)])
        let location = try #require(posted.headers[.location])
        guard location.hasPrefix("/jobs/") else { return ["refused": location] }
        let stream = try await live.open(location + "/stream", as: browser)
        defer { stream.close() }
        while let event = await stream.next(timeout: .seconds(60)) {
            if let json = event.json, let state = json["state"] as? String, !["queued", "running"].contains(state) { return json }
        }
        return nil
    }

    @Test func aSavedLoginIsSealedUsedByPullsAndEachUseAudited() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        try await registry.waitUntilServing()
        let reference = try registry.pushImage(as: "berth/saved", tag: "t\(UUID().uuidString.prefix(8).lowercased())")
        try await withLiveStreamApp { live in
            let owner = try await signIn(live.client, as: "bt-operator")
            let saved = try await post(live, owner, "/registries", [
                ("registry", registry.address), ("username", registry.username), ("password", registry.password),
            ])
            #expect(saved.status == .seeOther && saved.headers[.location] == "/registries")
            let page = try await live.client.execute(uri: "/registries", method: .get, headers: owner.getHeaders)
            #expect(page.text.contains(registry.address) && page.text.contains(registry.username))
            #expect(!page.text.contains(registry.password))
            let viewer = try await signIn(live.client, as: "bt-viewer")
            #expect(try await live.client.execute(uri: "/registries", method: .get, headers: viewer.getHeaders).status == .forbidden)

            // The key file: beside the database, created 0600.
            let keyPath = live.app.configuration.secretKeyPath
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int)
            #expect(mode == 0o600)

            let pulled = try await pullWithoutTypedLogin(live, owner, reference)
            #expect(pulled?["state"] as? String == "succeeded", "\(String(describing: pulled))")

            // A shared login, saved by an admin, serves someone with none of their own; an operator may neither save
            // nor remove a shared one.
            try await TestEngine.withClient { engine in _ = try await engine.removeImage(reference, force: true) }
            let other = try await signIn(live.client, as: "bt-consoler")
            let refusedShare = try await post(live, other, "/registries", [
                ("registry", registry.address), ("username", registry.username), ("password", registry.password), ("shared", "1"),
            ])
            #expect(refusedShare.headers[.location] == "/registries")
            let admin = try await signIn(live.client, as: "bt-admin")
            _ = try await post(live, admin, "/registries", [
                ("registry", "http://\(registry.address)/"), ("username", registry.username), ("password", registry.password),
                ("shared", "1"),
            ])
            let sharedPull = try await pullWithoutTypedLogin(live, other, reference)
            #expect(sharedPull?["state"] as? String == "succeeded", "\(String(describing: sharedPull))")
            let database = try AppDatabase.open(path: live.app.configuration.databasePath)
            let shared = try #require(try await database.registryLogin(for: registry.address, usableBy: "bt-consoler"))
            #expect(shared.owner == nil && shared.lastUsedAt != nil)
            let removeShared = try await post(live, other, "/registries/\(shared.id!)/remove", [])
            #expect(removeShared.headers[.location] == "/registries")
            #expect(try await database.registryLogin(id: shared.id!) != nil)
            // Another person's own login is not theirs to remove: answered as missing.
            let own = try #require(try await database.registryLogin(for: registry.address, usableBy: "bt-operator"))
            #expect(own.owner == "bt-operator")
            _ = try await post(live, other, "/registries/\(own.id!)/remove", [])
            #expect(try await database.registryLogin(id: own.id!) != nil)
            _ = try await post(live, owner, "/registries/\(own.id!)/remove", [])
            #expect(try await database.registryLogin(id: own.id!) == nil)

            let rows = try await live.app.auditEvents()
            #expect(rows.contains { $0.action == "registry.login.save" && $0.actor == "bt-operator" && $0.outcome == .ok })
            #expect(rows.contains { $0.action == "registry.login.save" && $0.actor == "bt-consoler" && $0.outcome == .denied })
            let uses = rows.filter { $0.action == "registry.login.use" }
            #expect(uses.count == 2)
            #expect(uses.contains { $0.actor == "bt-operator" && $0.targetId == String(own.id!) })
            #expect(uses.contains { $0.actor == "bt-consoler" && $0.targetId == String(shared.id!) && $0.parameters?.contains("everyone") == true })
            let pulls = rows.filter { $0.action == "image.pull" }
            #expect(pulls.count == 2 && pulls.allSatisfy { $0.outcome == .ok && $0.parameters?.contains("saved #") == true })
            #expect(rows.contains { $0.action == "registry.login.remove" && $0.actor == "bt-consoler" && $0.outcome == .denied })
            #expect(rows.contains { $0.action == "registry.login.remove" && $0.actor == "bt-operator" && $0.outcome == .ok })

            // Sealed: the password is in neither the database nor its WAL.
            for file in [live.app.configuration.databasePath, live.app.configuration.databasePath + "-wal"]
            where FileManager.default.fileExists(atPath: file) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                #expect(bytes.range(of: Data(registry.password.utf8)) == nil, "no password in \(file)")
            }
            try await TestEngine.withClient { engine in _ = try? await engine.removeImage(reference, force: true) }
        }
    }

    @Test func aLostKeyFileMakesSavedLoginsUnusableWithClearWordsAndNothingElse() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let databasePath = directory.appendingPathComponent("berth.sqlite").path
        let keyPath = directory.appendingPathComponent("berth.key").path
        let useMine: (inout AppConfiguration) -> Void = { $0.databasePath = databasePath }
        try await withLiveStreamApp(configure: useMine) { live in
            let owner = try await signIn(live.client, as: "bt-operator")
            _ = try await post(live, owner, "/registries", [("registry", "127.0.0.1:5999"), ("username", "u"), ("password", "p-secret-1")])
        }
        try FileManager.default.removeItem(atPath: keyPath)
        try await withLiveStreamApp(configure: useMine) { live in
            let owner = try await signIn(live.client, as: "bt-operator")
            let page = try await live.client.execute(uri: "/registries", method: .get, headers: owner.getHeaders)
            #expect(page.text.contains("secret key this Berth no longer has") && page.text.contains(keyPath))
            let refused = try await post(live, owner, "/images/pull", [("reference", "127.0.0.1:5999/team/app:1")])
            #expect(refused.headers[.location] == "/images")
            let message = try await flash(after: refused, live.client, owner)
            #expect(message?.contains("no longer has") == true && message?.contains("save it again") == true, "\(String(describing: message))")
            let containers = try await live.client.execute(uri: "/containers", method: .get, headers: owner.getHeaders)
            #expect(containers.status == .ok)
            let rows = try await live.app.auditEvents()
            #expect(rows.contains { $0.action == "image.pull" && $0.outcome == .error && $0.errorMessage?.contains("no longer has") == true })
            #expect(!rows.contains { $0.action == "registry.login.use" })
        }
        // A new key was made, 0600; one that others may read stops Berth with words that name the fix.
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyPath)
        var configuration = TestApp.configuration(directory: directory, engine: try TestEngine.address())
        configuration.databasePath = databasePath
        await #expect { _ = try await buildRouter(configuration) } throws: { "\($0)".contains("chmod 600 \(keyPath)") }
    }

    @Test func sealedValuesOpenOnlyWithTheirKeyAndInTheirPlace() throws {
        let key = SecretKey(SymmetricKey(size: .bits256))
        let other = SecretKey(SymmetricKey(size: .bits256))
        let sealed = try key.seal(Data("hunter2".utf8), context: "a")
        #expect(try key.open(sealed, keyId: key.id, context: "a") == Data("hunter2".utf8))
        #expect(throws: SecretKey.OpenError.damaged) { _ = try key.open(sealed, keyId: key.id, context: "b") }
        #expect(throws: SecretKey.OpenError.otherKey(key.id)) { _ = try other.open(sealed, keyId: key.id, context: "a") }
        var tampered = sealed
        tampered[tampered.count / 2] ^= 1
        #expect(throws: SecretKey.OpenError.damaged) { _ = try key.open(tampered, keyId: key.id, context: "a") }
        #expect(sealed.range(of: Data("hunter2".utf8)) == nil)
        #expect(RegistryLogins.registryName("https://Registry.Example.com:5000/") == "registry.example.com:5000")
        #expect(RegistryLogins.registryName("index.docker.io") == "docker.io")
        for bad in ["", "a b", "host:port", "-x", "x/y", String(repeating: "a", count: 300)] {
            #expect(RegistryLogins.registryName(bad) == nil, "\(bad)")
        }
    }
}
