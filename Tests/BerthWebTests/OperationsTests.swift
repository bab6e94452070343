@testable import BerthWeb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TestSupport

/// `/metrics` and the request log: who may read the metrics, what they count, and that neither carries a raw path.
@Suite struct OperationsTests {
    /// A path segment that stands for a secret (a share-link token): it must appear in no log line and no metric.
    static let secret = "tok3n-s3cr3t-0123456789"

    @Test func metricsAreForAdminsWhenNotOnLoopback() async throws {
        // Router tests have no peer address: nobody is on loopback here.
        try await withTestApp { client, _ in
            let anonymous = try await client.execute(uri: "/metrics", method: .get)
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers[.location]?.hasPrefix("/login?next=") == true)
            let viewer = try await signIn(client, as: "bt-viewer")
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: viewer.getHeaders).status == .forbidden)
            let operatorBrowser = try await signIn(client, as: "bt-operator")
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: operatorBrowser.getHeaders).status == .forbidden)

            _ = try await postLogin(client, username: "bt-viewer", password: "wrong-password")
            let admin = try await signIn(client, as: "bt-admin")
            let page = try await client.execute(uri: "/metrics", method: .get, headers: admin.getHeaders)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = page.text
            #expect(text.contains(#"berth_logins_total{outcome="success"} 3"#), "\(text)")
            #expect(text.contains(#"berth_logins_total{outcome="failure"} 1"#))
            // Every sign-in and each refusal wrote an audit row, timed.
            let auditWrites = try #require(Self.sample("berth_audit_write_duration_seconds_count", in: text))
            #expect(auditWrites >= 6)
            #expect(Self.sample(#"berth_http_requests_total{route="/metrics",method="GET",status="403"}"#, in: text) == 2)
            #expect(Self.sample(#"berth_http_requests_total{route="/login",method="POST",status="401"}"#, in: text) == 1)
            #expect(Self.sample("berth_sse_streams_open", in: text) == 0)
        }
    }

    @Test func loopbackScrapesWithoutSessionAndCountsRoutePatternsOnly() async throws {
        try await withLiveStreamApp { live in
            // A matched route with a secret-looking parameter, and a path no route matches.
            let detail = try await live.client.execute(uri: "/containers/\(Self.secret)", method: .get)
            #expect(detail.status == .seeOther)
            let unmatched = try await live.client.execute(uri: "/s/\(Self.secret)/x?token=\(Self.secret)", method: .get)
            #expect(unmatched.status == .notFound)

            let scrape = try await live.client.execute(uri: "/metrics", method: .get)
            #expect(scrape.status == .ok)
            let text = scrape.text
            #expect(Self.sample(#"berth_http_requests_total{route="/containers/{id}",method="GET",status="303"}"#, in: text) == 1)
            #expect(Self.sample(#"berth_http_requests_total{route="unmatched",method="GET",status="404"}"#, in: text) == 1, "\(text)")
            #expect(!text.contains(Self.secret))
        }
    }

    @Test func aRequestRelayedByTheTrustedProxyIsNotLoopback() async throws {
        try await withLiveStreamApp(configure: { $0.trustedProxy = "127.0.0.1" }) { live in
            // Through the proxy, from a browser elsewhere: the proxy's own loopback address does not count.
            let relayed = try await live.client.execute(uri: "/metrics", method: .get, headers: [.xForwardedFor: "203.0.113.7"])
            #expect(relayed.status == .seeOther)
            // The proxy forwarding a browser on this machine, or a scraper straight to Berth: loopback.
            let local = try await live.client.execute(uri: "/metrics", method: .get, headers: [.xForwardedFor: "127.0.0.1"])
            #expect(local.status == .ok)
            #expect(try await live.client.execute(uri: "/metrics", method: .get).status == .ok)
        }
    }

    @Test func openStreamsAndTheirUpstreamAreGauged() async throws {
        try await withLiveStreamApp { live in
            let browser = try await signIn(live.client, as: "bt-viewer")
            let stream = try await live.open("/events/stream", as: browser)
            defer { stream.close() }
            #expect(stream.status == 200)
            #expect(await eventually(.seconds(5)) { live.streams.upstreams == 1 })
            let text = try await live.client.execute(uri: "/metrics", method: .get).text
            #expect(Self.sample("berth_sse_streams_open", in: text) == 1)
            #expect(Self.sample("berth_engine_upstream_streams", in: text) == 1)
        }
    }

    @Test func everyRequestLogsOneLineWithItsPatternAndNeverItsPath() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let built = try await buildRouter(TestApp.configuration(directory: directory, engine: try TestEngine.address()))
        let (logger, logged) = CapturingLogHandler.logger()
        let app = Application(router: built.responder, services: built.services, logger: logger)
        try await app.test(.router) { client in
            let browser = try await signIn(client, as: "bt-viewer")
            _ = try await client.execute(uri: "/containers/\(Self.secret)?all=\(Self.secret)", method: .get, headers: browser.getHeaders)
            _ = try await client.execute(uri: "/s/\(Self.secret)", method: .get)
            _ = try await client.execute(uri: "/metrics", method: .get, headers: browser.getHeaders)
        }
        let requests = logged.all.filter { $0.message == "request" }
        // GET /login, POST /login, GET /containers (in signIn), then the three above.
        #expect(requests.count == 6)
        let lines = requests.map { $0.metadata.mapValues { "\($0)" } }
        for line in lines {
            #expect(line["hb.request.id"] != nil)
            #expect(line["http.method"] != nil && line["http.route"] != nil && line["http.status"] != nil)
            #expect(Double(line["duration_ms"] ?? "") != nil)
        }
        #expect(lines[1]["http.route"] == "/login" && lines[1]["http.status"] == "303" && lines[1]["user"] == "bt-viewer")
        #expect(lines[3]["http.route"] == "/containers/{id}" && lines[3]["user"] == "bt-viewer")
        // A share link's token travels in its path: the line names the pattern, and the unknown link is a 404.
        #expect(lines[4]["http.route"] == "/s/{token}" && lines[4]["http.status"] == "404" && lines[4]["user"] == nil, "\(lines[4])")
        #expect(lines[5]["http.route"] == "/metrics" && lines[5]["http.status"] == "403")
        // Nothing logged anywhere carries the secret path segment.
        for entry in logged.all {
            #expect(!entry.message.contains(Self.secret))
            for (_, value) in entry.metadata { #expect(!"\(value)".contains(Self.secret)) }
        }
    }

    /// The value of the sample line that starts with `series` (name and labels exactly as written).
    static func sample(_ series: String, in exposition: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
