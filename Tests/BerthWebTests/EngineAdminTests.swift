@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TestSupport

/// Engines an admin adds in the browser: the second private engine over TLS and the third over SSH, given by the
/// contents of their files as an admin pastes them. scripts/test runs this in the turn of the suites over SSH.
@Suite(.serialized) struct EngineAdminTests {
    @Test func anAdminAddsEditsAndRemovesEnginesWhoseKeysStaySealed() async throws {
        let engines = try ThreeEngineTests.engines()
        @Sendable func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
        let tlsKey = try read(engines.tlsClient + "/key.pem")
        let sshKey = try read(engines.ssh.key)
        try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let form = try await client.execute(uri: "/engines/new", method: .get, headers: [.cookie: admin.cookie])
            #expect(form.status == .ok && form.text.contains("name=\"tlsKey\""))

            // Over TLS, from the three PEM files' contents.
            let added = try await post(client, admin, "/engines", [
                ("name", "tls2"), ("address", "tcp://127.0.0.1:\(engines.tlsPort)"), ("tlsCA", try read(engines.tlsClient + "/ca.pem")),
                ("tlsCertificate", try read(engines.tlsClient + "/cert.pem")), ("tlsKey", tlsKey),
            ])
            #expect(added.status == .seeOther && added.headers[.location] == "/engines", "\(added.text)")
            #expect(try await flash(after: added, client, admin)?.contains("Added the engine tls2.") == true)
            let tlsPage = try await client.execute(uri: "/engines/tls2/containers?all=1", method: .get, headers: [.cookie: admin.cookie])
            #expect(tlsPage.status == .ok, "\(tlsPage.text.prefix(400))")

            // Over SSH, from the key's and the known_hosts' contents.
            let sshAdded = try await post(client, admin, "/engines", [
                ("name", "ssh2"), ("address", engines.ssh.address.description), ("sshKey", sshKey),
                ("knownHosts", try read(engines.ssh.knownHosts)), ("operatorGroup", TestUsers.viewerGroup),
            ])
            #expect(sshAdded.status == .seeOther, "\(sshAdded.text)")
            let sshPage = try await client.execute(uri: "/engines/ssh2/containers?all=1", method: .get, headers: [.cookie: admin.cookie])
            #expect(sshPage.status == .ok, "\(sshPage.text.prefix(400))")
            let list = try await client.execute(uri: "/engines", method: .get, headers: [.cookie: admin.cookie])
            #expect(list.text.contains("data-engine=\"tls2\"") && list.text.contains("data-engine=\"ssh2\"") && list.text.contains("added by bt-admin"))

            // What can't be used is refused with words, and nothing is saved.
            let half = try await post(client, admin, "/engines", [
                ("name", "half"), ("address", "tcp://127.0.0.1:\(engines.tlsPort)"), ("tlsCA", try read(engines.tlsClient + "/ca.pem")),
            ])
            #expect(half.status == .badRequest && half.text.contains("give the engine&#39;s CA certificate, Berth&#39;s client certificate and its key"))
            let garbled = try await post(client, admin, "/engines", [
                ("name", "garbled"), ("address", engines.ssh.address.description), ("sshKey", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"),
                ("knownHosts", try read(engines.ssh.knownHosts)),
            ])
            #expect(garbled.status == .badRequest && garbled.text.contains("SSH private key of the engine"), "\(garbled.text.prefix(2000))")
            #expect(!garbled.text.contains("BEGIN OPENSSH"), "the key field is never filled back")
            let taken = try await post(client, admin, "/engines", [("name", "local"), ("address", "tcp://127.0.0.1:\(engines.tlsPort)")])
            #expect(taken.status == .badRequest && taken.text.contains("berth.toml names an engine “local”"))
            let socket = try await post(client, admin, "/engines", [("name", "sock"), ("address", "unix:///var/run/docker.sock")])
            #expect(socket.status == .badRequest && socket.text.contains("socket is named in berth.toml"))
            let keyInCertificate = try await post(client, admin, "/engines", [
                ("name", "mixed"), ("address", "tcp://127.0.0.1:\(engines.tlsPort)"), ("tlsCA", try read(engines.tlsClient + "/ca.pem")),
                ("tlsCertificate", try read(engines.tlsClient + "/cert.pem") + tlsKey), ("tlsKey", tlsKey),
            ])
            #expect(keyInCertificate.status == .badRequest && keyInCertificate.text.contains("The client certificate field holds a private key"))
            #expect(!keyInCertificate.text.contains("PRIVATE KEY-----"), "\(keyInCertificate.text.prefix(3000))")

            // Only admins.
            let operatorBrowser = try await signIn(client, as: "bt-operator")
            let refused = try await post(client, operatorBrowser, "/engines", [("name", "mine"), ("address", "unix:///x.sock")])
            #expect(refused.status == .forbidden)

            // The keys are sealed in the row; no row and no page shows them.
            let database = try AppDatabase.open(path: app.configuration.databasePath)
            let stored = try #require(try await database.savedEngine(named: "tls2"))
            #expect(stored.tlsKey.map { String(decoding: $0, as: UTF8.self).contains("PRIVATE KEY") } == false)
            #expect(stored.tlsKey != nil && stored.keyId != nil)
            let editPage = try await client.execute(uri: "/engines/tls2/edit", method: .get, headers: [.cookie: admin.cookie])
            #expect(editPage.text.contains("saved — leave empty to keep it") && !editPage.text.contains("PRIVATE KEY"))
            let rows = try await app.auditEvents()
            for row in rows {
                let text = [row.parameters, row.errorMessage, row.targetName].compactMap { $0 }.joined()
                #expect(!text.contains("PRIVATE KEY") && !text.contains("BEGIN"), "\(row.action) holds key material")
            }
            #expect(rows.filter { $0.action == "engine.add" && $0.outcome == .ok }.count == 2)
            #expect(rows.filter { $0.action == "engine.add" && $0.outcome == .error }.count == 5)
            #expect(try await database.savedEngines().map(\.name) == ["ssh2", "tls2"], "nothing of the refused ones was saved")
            #expect(rows.contains { $0.action == "engine.add" && $0.outcome == .denied && $0.actor == "bt-operator" })

            // Edited as the edit page posts it (the certificates shown again, the key field empty): the key stays; its
            // own groups now leave bt-operator without a role there.
            let edited = try await post(client, admin, "/engines/tls2", [
                ("address", "tcp://127.0.0.1:\(engines.tlsPort)"), ("tlsCA", try read(engines.tlsClient + "/ca.pem")),
                ("tlsCertificate", try read(engines.tlsClient + "/cert.pem")), ("tlsKey", ""), ("operatorGroup", "bt-nobody"),
                ("viewerGroup", "bt-nobody"),
            ])
            #expect(edited.status == .seeOther, "\(edited.text.prefix(2000))")
            #expect(try await client.execute(uri: "/engines/tls2/containers", method: .get, headers: [.cookie: admin.cookie]).status == .ok)
            #expect(try await client.execute(uri: "/engines/tls2/containers", method: .get, headers: [.cookie: operatorBrowser.cookie]).status == .notFound)

            // Saved engines are set up again at the next start, from the database and the key file alone.
            let directory = EngineDirectory(
                local: EngineHandle(name: "local", client: EngineClient(address: .unix(path: "/nonexistent")), roleGroups: nil), others: []
            )
            let again = SavedEngines(
                database: database, key: try SecretKey.loadOrCreate(path: app.configuration.secretKeyPath), directory: directory,
                configuration: app.configuration, logger: Logger(label: "test")
            )
            await again.loadAll()
            #expect(directory.all.map(\.name) == ["local", "ssh2", "tls2"] && directory.failures.isEmpty, "\(directory.failures)")
            #expect(try await directory.named("ssh2")?.client.apiVersion() != nil)
            await directory.shutdown()

            // Removed: its pages are gone, its row says so.
            let removed = try await post(client, admin, "/engines/tls2/remove")
            #expect(try await flash(after: removed, client, admin)?.contains("Removed the engine tls2") == true)
            #expect(try await client.execute(uri: "/engines/tls2/containers", method: .get, headers: [.cookie: admin.cookie]).status == .notFound)
            #expect(try await database.savedEngine(named: "tls2") == nil)
            #expect(try await app.auditEvents().contains { $0.action == "engine.remove" && $0.outcome == .ok && $0.targetName == "tls2" })
        }
    }

    /// Changing how Berth reaches an engine ends its live pages at once, with the reason (they reconnect to the new
    /// one); changing only its groups leaves them, and its connections, running.
    @Test func aReplacedEngineEndsItsLivePagesAGroupChangeDoesNot() async throws {
        let engines = try ThreeEngineTests.engines()
        @Sendable func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
        let fields: [(String, String)] = [
            ("address", "tcp://127.0.0.1:\(engines.tlsPort)"), ("tlsCA", try read(engines.tlsClient + "/ca.pem")),
            ("tlsCertificate", try read(engines.tlsClient + "/cert.pem")),
        ]
        let key = try read(engines.tlsClient + "/key.pem")
        try await withLiveStreamApp { live in
            let admin = try await signIn(live.client, as: "bt-admin")
            let added = try await post(live.client, admin, "/engines", [("name", "tls3"), ("tlsKey", key)] + fields)
            #expect(added.status == .seeOther, "\(added.text.prefix(500))")
            let first = try await live.open("/engines/tls3/events/stream", as: admin)
            defer { first.close() }
            #expect(first.status == 200)
            #expect(await eventually(.seconds(10)) { live.streams.engines.named("tls3")?.events.activeTopics == 1 })

            // Groups only: the same engine goes on; its stream is not ended.
            let grouped = try await post(live.client, admin, "/engines/tls3", fields + [("tlsKey", ""), ("viewerGroup", TestUsers.viewerGroup)])
            #expect(grouped.status == .seeOther)
            #expect(await first.next("end", timeout: .seconds(2)) == nil, "a group change ended the stream")
            #expect(live.streams.engines.named("tls3")?.roleGroups?.viewer == TestUsers.viewerGroup)

            // A group change that takes a watcher's role there away ends their stream at its next heartbeat, saying
            // why; the admin's goes on.
            let viewer = try await signIn(live.client, as: "bt-viewer")
            let watched = try await live.open("/engines/tls3/events/stream", as: viewer)
            defer { watched.close() }
            #expect(watched.status == 200)
            let regrouped = try await post(live.client, admin, "/engines/tls3", fields + [("tlsKey", ""), ("viewerGroup", TestUsers.operatorGroup)])
            #expect(regrouped.status == .seeOther)
            let ended = try #require(await watched.next("end", timeout: .seconds(5)))
            #expect((ended.found.json?["reason"] as? String)?.contains("no longer have a role on the engine tls3") == true, "\(ended.found.data)")
            #expect(await first.next("end", timeout: .seconds(1)) == nil, "the admin keeps the role: the stream goes on")

            // A dashboard of tls3 (and local), open on a wall screen.
            let dashboard = try await createDashboard(live.client, admin, [
                ("title", "Wall of tls3"), ("kind", "pattern"), ("selection", "*"), ("showStatus", "on"), ("engines", "1"),
                ("engine", "local"), ("engine", "tls3"),
            ])
            let wall = try await live.open("/dashboards/\(dashboard)/stream", as: admin)
            defer { wall.close() }
            #expect(await wall.next("containers", timeout: .seconds(10)) != nil)

            // The key typed again: a new client; the page's stream ends, saying why.
            let rekeyed = try await post(live.client, admin, "/engines/tls3", fields + [("tlsKey", key)])
            #expect(rekeyed.status == .seeOther)
            let end = try #require(await first.next("end", timeout: .seconds(5)))
            #expect((end.found.json?["reason"] as? String)?.contains("changed how Berth reaches the engine tls3") == true, "\(end.found.data)")
            // The wall screen goes on: tls3's part says why it paused, then comes from the new client.
            var told = false
            var again = false
            let deadline = ContinuousClock.now + .seconds(15)
            while !(told && again), ContinuousClock.now < deadline, let event = await wall.next(timeout: deadline - ContinuousClock.now) {
                #expect(event.event != "end", "the dashboard's stream ended: \(event.data)")
                if event.event == "engine", (event.json?["message"] as? String)?.contains("changed how Berth reaches the engine tls3") == true { told = true }
                if told, event.event == "containers", event.json?["engine"] as? String == "tls3" { again = true }
            }
            #expect(told && again, "told \(told), read again \(again)")
            _ = try await post(live.client, admin, "/engines/tls3/remove")
        }
    }
}
