@testable import BerthWeb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// The reviewers' reproduction: a dashboard with the redaction `(a+)+b`, three link viewers of a log of long `a…`
/// lines. The rules run in linear time, so `/healthz` keeps answering. Runs alone (it times answers).
@Suite(.serialized) struct HostilePatternTests {
    @Test func hostileRedactionRulesLeaveTheServerAnswering() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("dash-hostile")
            let line = String(repeating: "a", count: 3000)
            // About 40 lines a second: every one a catastrophe for a backtracking matcher, none a load for the engine.
            try await scope.busybox(["sh", "-c", "while :; do echo \(line); echo 'token=abc then \(line.prefix(40))b'; usleep 50000; done"], name: name)
            try await withLiveStreamApp { live in
                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await createDashboard(live.client, owner, [
                    ("title", "Hostile"), ("kind", "names"), ("selection", name), ("showLogs", "on"),
                    ("redactions", "(a+)+b\n(a|a)*c\n(.*a){12}x\ntoken=\\S+"),
                ])
                let token = try await createLink(live.client, owner, dashboard: id, expiresIn: 3600)
                var streams: [EventStreamConnection] = []
                for _ in 0..<3 {
                    let cookie = try await exchange(live.client, token: token, dashboard: id)
                    streams.append(try await live.open("/shared/\(id)/stream", as: Browser(cookie: cookie, csrfToken: "")))
                }
                defer { for stream in streams { stream.close() } }
                let (lines, _) = await collectLines(streams[0]) { $0.count >= 50 }
                #expect(lines.count >= 50, "the log flows through the rules")
                #expect(lines.contains { $0.text == "[redacted] then [redacted]" }, "\(lines.filter { !$0.text.hasPrefix("aaa") }.prefix(3).map(\.text))")
                #expect(!lines.contains { $0.text.contains("token=abc") })

                // While the three streams redact a fast log: every health check answers in time.
                var slowest = Duration.zero
                var times: [Duration] = []
                for _ in 0..<30 {
                    let started = ContinuousClock.now
                    let health = try await live.client.execute(uri: "/healthz", method: .get, headers: [:])
                    #expect(health.status == .ok)
                    slowest = max(slowest, ContinuousClock.now - started)
                    times.append(ContinuousClock.now - started)
                    try await Task.sleep(for: .milliseconds(100))
                }
                // 29 of 30 within 100 ms (a checkpoint of the database or the engine's own log writing may delay one),
                // and none stalled: before, the server stopped answering for minutes.
                let milliseconds = times.map { Int($0 / .milliseconds(1)) }
                #expect(milliseconds.sorted()[28] <= 100, "/healthz answered in \(milliseconds) ms")
                #expect(slowest <= .milliseconds(250), "/healthz answered in \(milliseconds) ms")
            }
        }
    }
}
