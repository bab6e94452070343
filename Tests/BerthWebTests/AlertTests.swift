@testable import BerthWeb
import BerthStore
import Crypto
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Mail
import NIOCore
import Testing
import TestSupport

/// Alerts from real container deaths to a real HTTP receiver on loopback (allowed by `--alerts-allow-local`): signed,
/// retried, one message for many deaths, delivered once across a Berth restart; loopback refused without the flag.
@Suite(.serialized) struct AlertTests {
    func post(_ live: LiveStreamApp, _ browser: Browser, _ path: String, _ fields: [(String, String)] = []) async throws -> TestResponse {
        try await live.client.execute(
            uri: path, method: .post, headers: browser.postHeaders(), body: formBody([("_csrf", browser.csrfToken)] + fields)
        )
    }

    /// Makes a webhook channel and a rule for `pattern`'s deaths through the admin's forms; the channel's id.
    func channelAndRule(
        _ live: LiveStreamApp, _ admin: Browser, name: String, url: String, secret: String, pattern: String
    ) async throws -> Int64 {
        let saved = try await post(live, admin, "/alerts/channels", [("name", name), ("kind", "webhook"), ("url", url), ("secret", secret)])
        #expect(saved.headers[.location] == "/alerts")
        let database = try AppDatabase.open(path: live.app.configuration.databasePath)
        let channel = try #require(try await database.alertChannels().first { $0.name == name }?.id)
        let rule = try await post(live, admin, "/alerts/rules", [
            ("name", "\(name) rule"), ("event-died", "1"), ("namePattern", pattern), ("channel", String(channel)),
        ])
        #expect(rule.headers[.location] == "/alerts")
        #expect(try await database.alertRules().contains { $0.name == "\(name) rule" })
        return channel
    }

    static func signature(_ received: WebhookReceiver.Received, secret: String) -> String {
        let signed = (received.headers["x-berth-timestamp"] ?? "") + "." + received.body
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signed.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// A Berth whose database outlives one `withLiveStreamApp` (a restart), allowed to alert a receiver on loopback.
    static func keptAcrossRestarts(in directory: URL) -> @Sendable (inout AppConfiguration) -> Void {
        { configuration in
            configuration.databasePath = directory.appendingPathComponent("berth.sqlite").path
            configuration.alertsAllowLocal = true
        }
    }

    @Test func aDeathReachesASignedWebhookFastManyDeathsAreOneMessageAndFailuresAreRetried() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        let flaky = WebhookReceiver(answers: [500, 500])
        try await flaky.start()
        let tag = UUID().uuidString.prefix(6).lowercased()
        let secret = "a-signing-secret-\(tag)"
        try await TestEngine.withContainers { engine, scope in
            try await withLiveStreamApp(configure: { $0.alertsAllowLocal = true }) { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                _ = try await channelAndRule(live, admin, name: "hook-\(tag)", url: receiver.url + "/one", secret: secret, pattern: "^alert-one-\(tag)")
                let database = try AppDatabase.open(path: live.app.configuration.databasePath)
                let channel = try #require(try await database.alertChannels().first?.id)
                _ = try await post(live, admin, "/alerts/rules", [
                    ("name", "many \(tag)"), ("event-died", "1"), ("namePattern", "^alert-many-\(tag)"), ("channel", String(channel)),
                ])
                try await Task.sleep(for: .milliseconds(300))

                // One container exits 3: the signed JSON arrives within 2 s.
                let id = try await scope.busybox(["sh", "-c", "exit 3"], name: "alert-one-\(tag)")
                _ = try await engine.waitContainer(id)
                let died = ContinuousClock.now
                let first = await receiver.waitFor(1, timeout: .seconds(5))
                let message = try #require(first.first)
                #expect(message.at - died < .seconds(2), "took \(message.at - died)")
                #expect(message.headers["x-berth-signature"] == Self.signature(message, secret: secret))
                let json = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any])
                #expect(json["event"] as? String == "died" && json["rule"] as? String == "hook-\(tag) rule")
                let containers = try #require(json["containers"] as? [[String: Any]])
                #expect(containers.count == 1 && containers[0]["name"] as? String == "alert-one-\(tag)" && containers[0]["detail"] as? String == "exit code 3")
                #expect(!message.body.contains(secret))

                // Fifty die at once (killed together): one message naming them all.
                var many: [String] = []
                for index in 0..<50 {
                    many.append(try await scope.busybox(["sleep", "3600"], name: "alert-many-\(tag)-\(index)"))
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for id in many { group.addTask { try await engine.killContainer(id) } }
                    try await group.waitForAll()
                }
                let both = await receiver.waitFor(2, timeout: .seconds(20))
                try await Task.sleep(for: .seconds(2))
                #expect(receiver.received.count == 2, "one message for the fifty")
                let last = try #require(both.last)
                let manyJSON = try #require(try JSONSerialization.jsonObject(with: Data(last.body.utf8)) as? [String: Any])
                #expect((manyJSON["containers"] as? [[String: Any]])?.count == 50)

                // A receiver that fails twice gets the test message on the third try; the log says so.
                let flakyChannel = try await channelAndRule(live, admin, name: "flaky-\(tag)", url: flaky.url, secret: secret, pattern: "^nothing-\(tag)")
                let tested = try await post(live, admin, "/alerts/channels/\(flakyChannel)/test")
                #expect(tested.headers[.location] == "/alerts/channels/\(flakyChannel)")
                let tries = await flaky.waitFor(3, timeout: .seconds(15))
                #expect(tries.count == 3)
                var delivery: AlertDelivery?
                for _ in 0..<50 {
                    delivery = try await database.alertDeliveries(channelId: flakyChannel).first
                    if delivery?.state == .sent { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(delivery?.state == .sent && delivery?.attempts == 3)
                let log = try await live.client.execute(uri: "/alerts/channels/\(flakyChannel)", method: .get, headers: admin.getHeaders)
                #expect(log.text.contains(#"data-state="sent""#) && log.text.contains("a test message"))

                let rows = try await live.app.auditEvents()
                #expect(rows.contains { $0.action == "alert.channel.save" && $0.outcome == .ok && $0.parameters?.contains(secret) != true })
                #expect(rows.contains { $0.action == "alert.rule.save" && $0.outcome == .ok })
                #expect(rows.contains { $0.action == "alert.test" && $0.outcome == .ok })
                let operatorBrowser = try await signIn(live.client, as: "bt-operator")
                #expect(try await live.client.execute(uri: "/alerts", method: .get, headers: operatorBrowser.getHeaders).status == .forbidden)
                for file in [live.app.configuration.databasePath, live.app.configuration.databasePath + "-wal"]
                where FileManager.default.fileExists(atPath: file) {
                    #expect(try Data(contentsOf: URL(fileURLWithPath: file)).range(of: Data(secret.utf8)) == nil, "no secret in \(file)")
                }
            }
        }
        await receiver.stop()
        await flaky.stop()
    }

    @Test func aDeathWhileBerthIsDownIsDeliveredOnceAfterItStarts() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tag = UUID().uuidString.prefix(6).lowercased()
        let mine = Self.keptAcrossRestarts(in: directory)
        try await TestEngine.withContainers { engine, scope in
            try await withLiveStreamApp(configure: mine) { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                _ = try await channelAndRule(live, admin, name: "hook", url: receiver.url, secret: "a-signing-secret-restart", pattern: "^alert-down-\(tag)")
                try await Task.sleep(for: .milliseconds(500))
            }
            // Berth is down: the container dies unseen.
            let id = try await scope.busybox(["sh", "-c", "exit 7"], name: "alert-down-\(tag)")
            _ = try await engine.waitContainer(id)
            #expect(receiver.received.isEmpty)
            try await withLiveStreamApp(configure: mine) { _ in
                let got = await receiver.waitFor(1, timeout: .seconds(10))
                #expect(got.count == 1)
                try await Task.sleep(for: .seconds(2))
            }
            // And again: nothing is told twice.
            try await withLiveStreamApp(configure: mine) { _ in try await Task.sleep(for: .seconds(2)) }
        }
        #expect(receiver.received.count == 1, "\(receiver.received.map(\.body))")
        #expect(receiver.received.first?.body.contains("exit code 7") == true)
        await receiver.stop()
    }

    /// After a crash the cursor may lie behind events one rule already told of (it waits for another rule's batch):
    /// the replay tells only what was not queued yet.
    @Test func aReplayAfterACrashDoesNotRepeatWhatARuleAlreadyQueued() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tag = UUID().uuidString.prefix(6).lowercased()
        let mine = Self.keptAcrossRestarts(in: directory)
        try await TestEngine.withContainers { engine, scope in
            try await withLiveStreamApp(configure: mine) { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                let channel = try await channelAndRule(live, admin, name: "hook", url: receiver.url, secret: "a-signing-secret-replay", pattern: "^alert-a-\(tag)")
                _ = try await post(live, admin, "/alerts/rules", [
                    ("name", "rule b"), ("event-died", "1"), ("namePattern", "^alert-b-\(tag)"), ("channel", String(channel)),
                ])
            }
            // While Berth is down both die; then the database is left as a crash would leave it: rule a's message
            // queued (its mark past a's death), the cursor still before both for rule b's sake.
            let before = AlertWatcher.nanos(Date()) - 1_000_000_000
            let a = try await scope.busybox(["sh", "-c", "exit 4"], name: "alert-a-\(tag)")
            _ = try await engine.waitContainer(a)
            try await Task.sleep(for: .milliseconds(300))
            let afterA = AlertWatcher.nanos(Date())
            try await Task.sleep(for: .milliseconds(300))
            let b = try await scope.busybox(["sh", "-c", "exit 5"], name: "alert-b-\(tag)")
            _ = try await engine.waitContainer(b)
            let database = try AppDatabase.open(path: directory.appendingPathComponent("berth.sqlite").path)
            let ruleA = try #require(try await database.alertRules().first { $0.name == "hook rule" }?.id)
            try await database.queueAlertDeliveries([], cursor: String(before), marks: [ruleA: afterA])
            try await withLiveStreamApp(configure: mine) { _ in
                _ = await receiver.waitFor(1, timeout: .seconds(10))
                try await Task.sleep(for: .seconds(2))
            }
        }
        let bodies = receiver.received.map(\.body)
        #expect(bodies.count == 1, "\(bodies)")
        #expect(bodies.first?.contains("exit code 5") == true && bodies.first?.contains("exit code 4") == false)
        await receiver.stop()
    }

    @Test func channelsOnThisMachineOrLinkLocalAreRefusedWithoutTheFlag() async throws {
        try await withLiveStreamApp { live in
            let admin = try await signIn(live.client, as: "bt-admin")
            for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:9/"] {
                let refused = try await post(live, admin, "/alerts/channels", [("name", "local"), ("kind", "ntfy"), ("url", url)])
                #expect(refused.headers[.location] == "/alerts")
                #expect(try await flash(after: refused, live.client, admin)?.contains("--alerts-allow-local") == true, "\(url)")
            }
            let mail = try await post(live, admin, "/alerts/channels", [
                ("name", "mail"), ("kind", "email"), ("url", "smtp://localhost:25/?from=berth@example.test&to=ops@example.test"),
            ])
            #expect(try await flash(after: mail, live.client, admin)?.contains("--alerts-allow-local") == true)
            let notHTTP = try await post(live, admin, "/alerts/channels", [("name", "file"), ("kind", "ntfy"), ("url", "file:///etc/passwd")])
            #expect(try await flash(after: notHTTP, live.client, admin)?.contains("not an http") == true)
            let database = try AppDatabase.open(path: live.app.configuration.databasePath)
            #expect(try await database.alertChannels().isEmpty)
            let rows = try await live.app.auditEvents().filter { $0.action == "alert.channel.save" }
            #expect(rows.count == 6 && rows.allSatisfy { $0.outcome == .error })
        }
        #expect(OutboundURL.isLocal("127.0.0.53") && OutboundURL.isLocal("::ffff:127.0.0.1") && OutboundURL.isLocal("fe80::1%eth0"))
        #expect(OutboundURL.isLocal("0.1.2.3") && OutboundURL.isLocal("fd00:ec2::254") && OutboundURL.isLocal("100.100.100.200"))
        #expect(OutboundURL.destination("https://user:pw@ntfy.example.com:8443/topic?auth=tk") == "https://ntfy.example.com:8443")
        // A label of only "=" (an empty key) matches nothing, and never traps.
        var odd = AlertRule(name: "odd", events: [.died], namePattern: "", label: "=", channels: [1], createdBy: "t")
        odd.id = 1
        let event = AlertableEvent(
            kind: .died, container: .init(id: "c", name: "c", detail: "exit code 1", time: ""), labels: ["": "x"], timeNano: 1
        )
        #expect(CompiledAlertRule(odd)?.matches(event) == false)
        #expect(!OutboundURL.isLocal("10.0.0.1") && !OutboundURL.isLocal("2001:db8::1"))
    }

    @Test func aRestartLoopIsToldOnceToAnNtfyTopic() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        let tag = UUID().uuidString.prefix(6).lowercased()
        try await TestEngine.withContainers { engine, scope in
            try await withLiveStreamApp(configure: { $0.alertsAllowLocal = true }) { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                _ = try await post(live, admin, "/alerts/channels", [("name", "topic"), ("kind", "ntfy"), ("url", receiver.url + "/berth")])
                let database = try AppDatabase.open(path: live.app.configuration.databasePath)
                let channel = try #require(try await database.alertChannels().first?.id)
                _ = try await post(live, admin, "/alerts/rules", [
                    ("name", "loops"), ("event-restarting", "1"), ("restartCount", "2"), ("restartMinutes", "10"),
                    ("namePattern", "^alert-loop-\(tag)"), ("channel", String(channel)),
                ])
                try await Task.sleep(for: .milliseconds(300))
                // Exits at once, and the engine starts it again (waiting a little longer each time).
                let id = try await scope.busybox(
                    ["sh", "-c", "sleep 0.2"], name: "alert-loop-\(tag)", restartPolicy: RestartPolicy(name: "always")
                )
                let got = await receiver.waitFor(1, timeout: .seconds(20))
                let message = try #require(got.first)
                #expect(message.path == "/berth" && message.headers["title"] == "Berth: loops")
                #expect(message.body.contains("alert-loop-\(tag)") && message.body.contains("restarts in 10 min"), "\(message.body)")
                // It goes on restarting: told once per window, not once per restart.
                try await Task.sleep(for: .seconds(4))
                #expect(receiver.received.count == 1)
                try await engine.removeContainer(id, force: true)
            }
        }
        await receiver.stop()
    }

    @Test func aDeathIsMailedOverSTARTTLSWithALoginAndRefusalsAreClear() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificates = try TestCertificates.make(in: directory)
        let password = "mail-pw-\(UUID().uuidString.prefix(8))"
        let sink = try SMTPSink(certificates: certificates, login: "berth-mail:\(password)")
        defer { sink.stop() }
        let plain = try SMTPSink(login: "berth-mail:\(password)")
        defer { plain.stop() }
        let implicit = try SMTPSink(certificates: certificates, login: "berth-mail:\(password)", implicitTLS: true, loginOnly: true)
        defer { implicit.stop() }
        let tag = UUID().uuidString.prefix(6).lowercased()
        let address = { @Sendable (port: Int) in "smtp://berth-mail@localhost:\(port)/?from=berth@example.test&to=ops@example.test,oncall@example.test" }
        try await TestEngine.withContainers { engine, scope in
            try await withLiveStreamApp(configure: { $0.alertsAllowLocal = true; $0.alertsCAFile = certificates.caPath }) { live in
                let admin = try await signIn(live.client, as: "bt-admin")
                let database = try AppDatabase.open(path: live.app.configuration.databasePath)
                // What the form refuses, and says why.
                for (url, secret, says) in [
                    ("smtp://berth-mail:\(password)@localhost:\(sink.port)/?from=a@example.test&to=b@example.test", "", "secret field"),
                    ("smtp://localhost:\(sink.port)/?to=b@example.test", "", "sender"),
                    ("smtp://localhost:\(sink.port)/?from=a@example.test&to=not-an-address", "", "not an e-mail address"),
                    (address(sink.port), "", "password"),
                ] {
                    let refused = try await post(live, admin, "/alerts/channels", [("name", "bad"), ("kind", "email"), ("url", url), ("secret", secret)])
                    #expect(try await flash(after: refused, live.client, admin)?.contains(says) == true, "\(url)")
                }
                #expect(try await database.alertChannels().isEmpty)

                let saved = try await post(live, admin, "/alerts/channels", [
                    ("name", "mail-\(tag)"), ("kind", "email"), ("url", address(sink.port)), ("secret", password),
                ])
                #expect(saved.headers[.location] == "/alerts")
                let channel = try #require(try await database.alertChannels().first { $0.name == "mail-\(tag)" }?.id)
                _ = try await post(live, admin, "/alerts/rules", [
                    ("name", "mailed"), ("event-died", "1"), ("namePattern", "^alert-mail-\(tag)"), ("channel", String(channel)),
                ])
                try await Task.sleep(for: .milliseconds(300))

                let id = try await scope.busybox(["sh", "-c", "exit 3"], name: "alert-mail-\(tag)")
                _ = try await engine.waitContainer(id)
                let mails = await sink.waitFor(1, timeout: .seconds(15))
                let mail = try #require(mails.first)
                #expect(mail.tls, "sent after STARTTLS")
                #expect(mail.login == "berth-mail")
                #expect(mail.from == "berth@example.test" && mail.to == ["ops@example.test", "oncall@example.test"])
                #expect(mail.header("Subject") == "Berth [mailed]: alert-mail-\(tag) exited with an error")
                #expect(mail.text.contains("alert-mail-\(tag) (\(id.prefix(12))): exit code 3"), "\(mail.text)")

                // smtps:// (TLS from the first byte) to a server that offers only AUTH LOGIN.
                _ = try await post(live, admin, "/alerts/channels", [
                    ("name", "smtps-\(tag)"), ("kind", "email"), ("url", address(implicit.port).replacingOccurrences(of: "smtp://", with: "smtps://")),
                    ("secret", password),
                ])
                let smtps = try #require(try await database.alertChannels().first { $0.name == "smtps-\(tag)" }?.id)
                _ = try await post(live, admin, "/alerts/channels/\(smtps)/test")
                let overTLS = try #require(await implicit.waitFor(1, timeout: .seconds(10)).first)
                #expect(overTLS.login == "berth-mail" && overTLS.text.contains("a test message for channel “smtps-\(tag)”"))

                // A wrong password: the server's refusal in the delivery log, given up at once (repeating it would
                // only get Berth locked out).
                let wrong = try await post(live, admin, "/alerts/channels", [
                    ("name", "wrong-\(tag)"), ("kind", "email"), ("url", address(sink.port)), ("secret", "not-the-password"),
                ])
                #expect(wrong.headers[.location] == "/alerts")
                // A server without STARTTLS never gets the password.
                _ = try await post(live, admin, "/alerts/channels", [
                    ("name", "plain-\(tag)"), ("kind", "email"), ("url", address(plain.port)), ("secret", password),
                ])
                let channels = try await database.alertChannels()
                let wrongId = try #require(channels.first { $0.name == "wrong-\(tag)" }?.id)
                let plainId = try #require(channels.first { $0.name == "plain-\(tag)" }?.id)
                for channel in [wrongId, plainId] { _ = try await post(live, admin, "/alerts/channels/\(channel)/test") }
                var failures: [Int64: AlertDelivery] = [:]
                for _ in 0..<100 where failures.count < 2 {
                    for channel in [wrongId, plainId] {
                        if let delivery = try await database.alertDeliveries(channelId: channel).first, delivery.lastError != nil {
                            failures[channel] = delivery
                        }
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let wrongLog = try await database.alertDeliveries(channelId: wrongId)
                let refused = try #require(failures[wrongId], "\(wrongLog)")
                #expect(refused.state == .failed && refused.attempts == 1, "given up at once")
                #expect(refused.lastError?.contains("refused AUTH PLAIN: 535") == true, "\(refused.lastError ?? "")")
                let unencrypted = try #require(failures[plainId])
                #expect(unencrypted.lastError?.contains("does not offer STARTTLS, and a password is never sent unencrypted") == true)
                #expect(unencrypted.state == .failed)
                #expect(sink.received.count == 1 && plain.received.isEmpty)
                let log = try await live.client.execute(uri: "/alerts/channels/\(wrongId)", method: .get, headers: admin.getHeaders)
                #expect(log.text.contains("535"))
                for file in [live.app.configuration.databasePath, live.app.configuration.databasePath + "-wal"]
                where FileManager.default.fileExists(atPath: file) {
                    #expect(try Data(contentsOf: URL(fileURLWithPath: file)).range(of: Data(password.utf8)) == nil, "no password in \(file)")
                }
            }
        }
        // A server whose certificate no trusted CA signed is refused.
        let untrusted = MailServer(
            host: "localhost", address: try SocketAddress(ipAddress: "127.0.0.1", port: sink.port), security: .startTLSWhenOffered
        )
        do {
            try await SMTPClient.send(MailMessage(from: "a@example.test", to: ["b@example.test"], subject: "s", body: "b"), via: untrusted)
            Issue.record("sent to a server with an untrusted certificate")
        } catch {
            #expect(error.description.contains("TLS with localhost failed: its certificate is not trusted"), "\(error)")
        }
        #expect(sink.received.count == 1)
    }
}
