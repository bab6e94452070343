@testable import BerthWeb
import AsyncHTTPClient
import BerthStore
import EngineAPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// What the audit trail survives: the server killed in the middle of a burst, and a full disk.
@Suite(.serialized) struct AuditDurabilityTests {
    /// A `berth serve` process of the binary under test, on a free port, with its own database.
    final class ServerProcess: @unchecked Sendable {
        let process = Process()
        let port: Int
        let databasePath: String

        /// `configFile` is `/dev/null` (empty) unless a test brings its own, so that a `/etc/berth/berth.toml` on the
        /// machine never changes what runs.
        init(databasePath: String, configFile: String = "/dev/null") throws {
            self.databasePath = databasePath
            port = try LoopbackPort.free()
            let binary = BerthCommandLine.binary.path
            guard FileManager.default.isExecutableFile(atPath: binary) else {
                throw TestSetupError("\(binary) is missing: build with swift build --build-tests")
            }
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "serve", "--config", configFile, "--port", String(port), "--database", databasePath, "--templates", Repository.templates,
                "--public", Repository.publicFolder, "--pam-service", TestUsers.service, "--admin-group", TestUsers.adminGroup,
                "--operator-group", TestUsers.operatorGroup, "--viewer-group", TestUsers.viewerGroup, "--log-level", "error",
                "--engine", try TestEngine.address().description,
            ]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        var base: String { "http://127.0.0.1:\(port)" }

        func waitUntilServing(_ client: HTTPClient) async throws {
            for _ in 0..<200 {
                if let response = try? await client.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(2)) {
                    // Read to the end: a body left unread keeps its connection from the pool (and the client's shutdown waiting).
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestSetupError("berth did not start on port \(port)")
        }

        func kill() {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A browser over real HTTP: cookies by hand, as a browser keeps them.
    struct HTTPBrowser: Sendable {
        let client: HTTPClient
        let base: String
        var cookie = ""
        var csrf = ""

        func request(_ path: String, method: HTTPMethod = .GET, form: [(String, String)]? = nil, cookie: String? = nil) async throws -> (Int, HTTPHeaders, String) {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            request.headers.add(name: "Cookie", value: cookie ?? self.cookie)
            if let form {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.headers.add(name: "Origin", value: base)
                request.body = .bytes(formBody(form))
            }
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 4 << 20)
            return (Int(response.status.code), response.headers, String(buffer: body))
        }

        mutating func signIn(_ username: String) async throws {
            let (_, headers, page) = try await request("/login", cookie: "")
            let loginCookie = try #require(headers["Set-Cookie"].first { $0.hasPrefix("berth-login=") }).prefix { $0 != ";" }
            let token = try #require(csrfField(in: page))
            let (status, signedIn, _) = try await request(
                "/login", method: .POST, form: [("_csrf", token), ("username", username), ("password", try TestUsers.password())],
                cookie: String(loginCookie)
            )
            #expect(status == 303)
            cookie = String(try #require(signedIn["Set-Cookie"].first { $0.hasPrefix("berth=") }).prefix { $0 != ";" })
            let (_, _, settings) = try await request("/settings")
            csrf = try #require(csrfField(in: settings))
        }
    }

    @Test func killingTheServerMidBurstLosesNoAcknowledgedAuditRow() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let databasePath = directory.appendingPathComponent("berth.sqlite").path
        let server = try ServerProcess(databasePath: databasePath)
        // Redirects are answers here, not something to follow.
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await burstAndKill(server, client, databasePath)
        } catch {
            server.kill()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func burstAndKill(_ server: ServerProcess, _ client: HTTPClient, _ databasePath: String) async throws {
        try await server.waitUntilServing(client)
        var browser = HTTPBrowser(client: client, base: server.base)
        try await browser.signIn("bt-operator")

        // Eight writers save settings as fast as they are answered; each request's tail value is unique, so an
        // acknowledged request can be found again in the trail.
        let acknowledged = NIOLockedValueBox<[Int]>([])
        let signedIn = browser
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for round in 0..<10_000 {
                            let tail = 1 + worker * 10_000 + round
                            guard let (status, _, _) = try? await signedIn.request("/settings", method: .POST, form: [
                                ("_csrf", signedIn.csrf), ("theme", round % 2 == 0 ? "dark" : "light"), ("containerFilter", "all"),
                                ("logTailLines", String(tail)), ("timeZone", "utc"), ("timeStyle", "absolute"), ("dateFormat", "yyyy-mm-dd"),
                            ]) else { return }
                            if status == 303 { acknowledged.withLockedValue { $0.append(tail) } }
                        }
                    }
                }
            }
        }
        // Kill once a good number of writes were answered.
        for _ in 0..<300 where acknowledged.withLockedValue({ $0.count }) < 150 {
            try await Task.sleep(for: .milliseconds(50))
        }
        server.kill()
        await writers.value
        let answered = acknowledged.withLockedValue { $0 }
        #expect(answered.count >= 150)

        // The file after the crash: intact, every acknowledged action in it, the chain whole.
        let queue = try DatabaseQueue(path: databasePath)
        let integrity = try await queue.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == ["ok"])
        let recorded = try await queue.read { db in
            try String.fetchAll(db, sql: "SELECT parameters FROM auditEvent WHERE action = 'settings.update' AND outcome = 'ok'")
        }
        let recordedTails = Set(recorded.compactMap { text -> Int? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else { return nil }
            return object["log.tail"].flatMap(Int.init)
        })
        let lost = answered.filter { !recordedTails.contains($0) }
        #expect(lost.isEmpty, "acknowledged but not in the trail: \(lost.prefix(10))")
        try queue.close()
        let verification = try await AppDatabase.open(path: databasePath).verifyAuditChain()
        #expect(verification.isIntact, "\(verification)")
    }

    @Test func aFullDiskRefusesActionsKeepsReadsAndRecovers() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mountPoint = directory.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        // A 4 MiB file system of its own, so that filling it touches nothing else.
        try TestUsers.shell("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint)
        defer { try? TestUsers.shell("umount", "-l", mountPoint) }
        let filler = mountPoint + "/filler"

        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sleep", "300"])
            try await withTestApp(configure: { $0.databasePath = mountPoint + "/berth.sqlite" }) { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                // Fill what is left.
                try TestUsers.shell("sh", "-c", "dd if=/dev/zero of=\(filler) bs=64k 2>/dev/null || true")

                let refused = try await client.execute(
                    uri: "/containers/\(id)/stop", method: .post, headers: browser.postHeaders(),
                    body: formBody([("_csrf", browser.csrfToken), ("timeout", "0")])
                )
                #expect(refused.status == .seeOther)
                let flashCookie = try #require(refused.setCookie("berth-flash")).pair
                let flash = try await client.execute(
                    uri: refused.headers[.location] ?? "/", method: .get, headers: [.cookie: "\(browser.cookie); \(flashCookie)"]
                )
                #expect(flash.text.contains(AuditTrail.unavailableMessage))
                #expect(try await engine.inspectContainer(id).state?.running == true, "nothing was done")

                // Reading goes on.
                let audit = try await client.execute(uri: "/audit", method: .get, headers: browser.getHeaders)
                #expect(audit.status == .ok)
                let list = try await client.execute(uri: "/containers", method: .get, headers: browser.getHeaders)
                #expect(list.status == .ok)
                // Monitors learn that the database takes no writes; a sign-in says so instead of a bare 500.
                let health = try await client.execute(uri: "/healthz", method: .get, headers: [:])
                #expect(health.status == .serviceUnavailable)
                #expect(health.text.contains(#""writable":false"#))
                let signIn = try await postLogin(client, username: "bt-viewer", password: try TestUsers.password())
                #expect(signIn.status == .serviceUnavailable)
                #expect(signIn.text.contains("Berth cannot write to its database"))
                #expect(signIn.setCookie("berth") == nil)

                // Space returns: the same action works, and is recorded.
                try FileManager.default.removeItem(atPath: filler)
                let done = try await client.execute(
                    uri: "/containers/\(id)/stop", method: .post, headers: browser.postHeaders(),
                    body: formBody([("_csrf", browser.csrfToken), ("timeout", "0")])
                )
                #expect(done.status == .seeOther)
                #expect(try await engine.inspectContainer(id).state?.running == false)
                let stops = try await app.auditEvents().filter { $0.action == "container.stop" }
                #expect(stops.map(\.outcome) == [.ok])
                let healthy = try await client.execute(uri: "/healthz", method: .get, headers: [:])
                #expect(healthy.text.contains(#""writable":true"#))
                let store = try AppDatabase.open(path: app.configuration.databasePath)
                #expect(try await store.verifyAuditChain().isIntact)
            }
        }
    }
}

/// The reviewers' reproduction: a database on a 4 MiB file system filled until 4 to 64 KiB are free, and start/stop
/// requests against a real container. No request may act without the record of its attempt, nor report success
/// without its outcome row; once space returns, every change the engine saw has exactly one row.
@Suite(.serialized) struct NearlyFullDiskTests {
    @Test func noActionIsDoneWithoutItsRecordAndNoSuccessIsToldWithoutItsRow() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mountPoint = directory.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try TestUsers.shell("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint)
        defer { try? TestUsers.shell("umount", "-l", mountPoint) }
        let filler = mountPoint + "/filler"
        let databasePath = mountPoint + "/berth.sqlite"

        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sleep", "300"])
            try await withTestApp(configure: { $0.databasePath = databasePath }) { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let reader = try DatabasePool(path: databasePath)
                func okRows() async throws -> Int {
                    try await reader.read { db in
                        try Int.fetchOne(db, sql: """
                            SELECT count(*) FROM auditEvent WHERE action IN ('container.start', 'container.stop') AND outcome = 'ok'
                            """) ?? 0
                    }
                }
                func running() async throws -> Bool { try await engine.inspectContainer(id).state?.running == true }

                var changes = 0
                var refused = 0
                var told = 0
                for free in [4, 8, 16, 24, 32, 48, 64] {
                    try? FileManager.default.removeItem(atPath: filler)
                    try TestUsers.shell("sh", "-c", "dd if=/dev/zero of=\(filler) bs=4k 2>/dev/null; truncate -s -\(free)K \(filler)")
                    for _ in 0..<3 {
                        let before = try await running()
                        let rowsBefore = try await okRows()
                        let response = try await post(client, browser, "/containers/\(id)/\(before ? "stop" : "start")", [("timeout", "0")])
                        #expect(response.status == .seeOther)
                        let message = try #require(try await flash(after: response, client, browser))
                        let after = try await running()
                        if after != before { changes += 1 }
                        if message.contains(AuditTrail.unavailableMessage) {
                            refused += 1
                            #expect(after == before, "refused, yet the engine acted (\(free) KiB free)")
                        } else if message.contains("could not be written to the audit trail") {
                            told += 1
                        } else {
                            #expect(message.hasPrefix(before ? "Stopped" : "Started"), "\(message)")
                            #expect(try await okRows() == rowsBefore + 1, "success told without its row (\(free) KiB free): \(message)")
                        }
                    }
                }
                #expect(refused > 0, "the disk was never full enough to refuse")
                // Space returns: the next action first writes what could not be written before.
                try FileManager.default.removeItem(atPath: filler)
                let before = try await running()
                _ = try await post(client, browser, "/containers/\(id)/\(before ? "stop" : "start")", [("timeout", "0")])
                changes += 1
                let rows = try await app.auditEvents().filter { ["container.start", "container.stop"].contains($0.action) }
                #expect(rows.filter { $0.outcome == .ok }.count == changes, "every change the engine saw has its row (\(refused) refused, \(told) told late)")
                #expect(rows.count == 21 - refused + 1, "one row per request that was not refused")
                let store = try AppDatabase.open(path: databasePath)
                #expect(try await store.pendingAuditIntents() == 0)
                #expect(try await store.verifyAuditChain().isIntact)
                try reader.close()
            }
        }
    }
}
