@testable import BerthWeb
import BerthStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TestSupport

/// The reviewers' reproductions: slow-header connections lasted over a minute, idle keep-alive sockets over 150 s,
/// 1,100 idle sockets made Berth unreachable; one viewer's 360 streams exhausted the engine's descriptors.
@Suite(.serialized) struct ConnectionLimitTests {
    @Test func aSlowHeadAndAnIdleKeepAliveConnectionAreClosed() async throws {
        try await withServedApp(configure: { $0.headerTimeout = 1; $0.keepAliveTimeout = 2 }) { port, _, _ in
            // A byte every 300 ms never completes a head: closed after the header timeout, not when the bytes stop.
            let slow = try RawConnection(port: port)
            let started = ContinuousClock.now
            let trickle = Task {
                for byte in "GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                    slow.send(String(byte))
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            #expect(try await slow.readUntilClosed(timeout: .seconds(10)) != nil, "a slow head is cut off")
            #expect(ContinuousClock.now - started < .seconds(8), "long before the 21 s the bytes would take")
            trickle.cancel()

            // A complete request is answered; the idle connection after it goes after the keep-alive timeout.
            // Timed from the request: the answer comes after it, and this test may read the answer late on a loaded
            // machine (it once did so after the keep-alive timeout had already closed the connection).
            let idle = try RawConnection(port: port)
            let asked = ContinuousClock.now
            idle.send("GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try #require(try await idle.firstBytes(timeout: .seconds(20)), "answered")
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(try await idle.readUntilClosed(timeout: .seconds(10)) != nil, "the idle keep-alive connection is closed")
            #expect(ContinuousClock.now - asked >= .seconds(1.5), "not before the keep-alive timeout")
        }
    }

    @Test func pastTheConnectionCapSignedInPeopleGetInAndOthersGet503() async throws {
        try await withServedApp(configure: { $0.maxConnections = 6; $0.headerTimeout = 30 }) { port, client, _ in
            let browser = try await signIn(client, as: "bt-viewer")
            // Sockets that say nothing pile up past the cap.
            let idle = try (0..<8).map { _ in try RawConnection(port: port) }
            // Accepted and counted by the server before the next one comes.
            try await Task.sleep(for: .milliseconds(500))
            let anonymous = try RawConnection(port: port)
            anonymous.send("GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
            let refused = try #require(try await anonymous.readUntilClosed(timeout: .seconds(5)), "the refusal closes the connection: \(anonymous.partial())")
            #expect(refused.hasPrefix("HTTP/1.1 503"))
            #expect(refused.lowercased().contains("retry-after: 5"))
            let member = try RawConnection(port: port)
            member.send("GET /containers HTTP/1.1\r\nHost: x\r\nCookie: \(browser.cookie)\r\nConnection: close\r\n\r\n")
            let page = try #require(try await member.readUntilClosed(timeout: .seconds(10)))
            #expect(page.hasPrefix("HTTP/1.1 200"), "\(page.prefix(60))")
            _ = idle
        }
    }

    @Test func streamsAreCappedPerSessionPerLinkAndInAll() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("caps")
            try await scope.busybox(["sh", "-c", "echo hi; sleep 60"], name: name)
            try await withLiveStreamApp(configure: { $0.streamLimits = StreamLimits(total: 5, perSession: 3, perLink: 1) }) { live in
                let viewer = try await signIn(live.client, as: "bt-viewer")
                var open: [EventStreamConnection] = []
                defer { for stream in open { stream.close() } }
                for _ in 0..<3 { open.append(try await live.open("/events/stream", as: viewer)) }
                #expect(open.allSatisfy { $0.status == 200 })
                let fourth = try await live.open("/events/stream", as: viewer)
                #expect(fourth.status == 429)
                #expect(fourth.headers.contains { $0.0.lowercased() == "retry-after" })
                // A refused log view costs no inspect and writes no row saying logs were streamed.
                let logs = try await live.open("/logs/stream?container=\(name)", as: viewer)
                #expect(logs.status == 429)
                #expect(try await live.app.auditEvents().filter { $0.action == "container.logs" }.isEmpty)

                let owner = try await signIn(live.client, as: "bt-operator")
                let id = try await createDashboard(live.client, owner, [("title", "Caps"), ("kind", "names"), ("selection", name), ("showStatus", "on")])
                let cookie = try await exchange(live.client, token: try await createLink(live.client, owner, dashboard: id, expiresIn: 3600), dashboard: id)
                open.append(try await live.open("/shared/\(id)/stream", as: Browser(cookie: cookie, csrfToken: "")))
                #expect(open.last?.status == 200)
                let secondView = try await live.open("/shared/\(id)/stream", as: Browser(cookie: cookie, csrfToken: ""))
                #expect(secondView.status == 429)

                open.append(try await live.open("/events/stream", as: owner))
                #expect(open.last?.status == 200)
                let overall = try await live.open("/events/stream", as: owner)
                #expect(overall.status == 503, "five open in all")
                // A closed one makes room.
                open.removeFirst().close()
                var again = try await live.open("/events/stream", as: owner)
                for _ in 0..<50 where again.status != 200 {
                    again.close()
                    try await Task.sleep(for: .milliseconds(200))
                    again = try await live.open("/events/stream", as: owner)
                }
                #expect(again.status == 200)
                open.append(again)
            }
        }
    }
}
