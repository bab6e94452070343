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
        let mine: (inout AppConfiguration) -> Void = {
            $0.databasePath = directory.appendingPathComponent("berth.sqlite").path
            $0.alertsAllowLocal = true
        }
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

    @Test func channelsOnThisMachineOrLinkLocalAreRefusedWithoutTheFlag() async throws {
        try await withLiveStreamApp { live in
            let admin = try await signIn(live.client, as: "bt-admin")
            for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:9/"] {
                let refused = try await post(live, admin, "/alerts/channels", [("name", "local"), ("kind", "ntfy"), ("url", url)])
                #expect(refused.headers[.location] == "/alerts")
                #expect(try await flash(after: refused, live.client, admin)?.contains("--alerts-allow-local") == true, "\(url)")
            }
            let notHTTP = try await post(live, admin, "/alerts/channels", [("name", "file"), ("kind", "ntfy"), ("url", "file:///etc/passwd")])
            #expect(try await flash(after: notHTTP, live.client, admin)?.contains("not an http") == true)
            let database = try AppDatabase.open(path: live.app.configuration.databasePath)
            #expect(try await database.alertChannels().isEmpty)
            let rows = try await live.app.auditEvents().filter { $0.action == "alert.channel.save" }
            #expect(rows.count == 5 && rows.allSatisfy { $0.outcome == .error })
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
}
