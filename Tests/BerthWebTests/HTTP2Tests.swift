@testable import BerthWeb
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing
import TestSupport

/// With a certificate of its own, Berth serves HTTPS and HTTP/2, so a browser's many live pages share one connection.
@Suite struct HTTP2Tests {
    @Test func withACertificateBerthSpeaksHTTP2AndCarriesManyStreamsAtOnce() async throws {
        try await withHTTPSApp(configure: { $0.streamHeartbeat = .milliseconds(300) }) { base, _, client in
            let cookie = try await signIn(client, base: base, as: "bt-viewer")
            var page = HTTPClientRequest(url: base + "/containers")
            page.headers.add(name: "Cookie", value: cookie)
            let response = try await client.execute(page, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.version == .http2)

            // More streams than HTTP/1.1 would allow a browser to one host, all live at once.
            var streams: [EventStreamConnection] = []
            defer { for stream in streams { stream.close() } }
            for _ in 0..<8 {
                streams.append(try await EventStreamConnection.open(
                    base + "/events/stream?type=container&action=create", client: client, cookie: cookie
                ))
            }
            // Closures out of #expect: Swift 6.3.1 can run one inside #expect in place of a later one (ExecTests).
            let allOpened = streams.allSatisfy { $0.status == 200 }
            #expect(allOpened)
            // Each stream is subscribed once its first comment (": stream open") has come.
            for _ in 0..<300 where !streams.allSatisfy({ $0.heartbeats > 0 }) {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await TestEngine.withContainers { _, scope in
                let id = try await scope.busybox(["true"], start: false)
                for stream in streams {
                    var got = false
                    while let event = await stream.next("event", timeout: .seconds(10)) {
                        if event.found.json?["id"] as? String == id { got = true; break }
                    }
                    #expect(got)
                }
            }
        }
    }

    @Test func overTheSameHTTPSAConsoleOpensOnAConnectionOfItsOwn() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("console")
            try await scope.busybox(["sleep", "300"], name: name)
            try await withHTTPSApp { base, port, client in
                let cookie = try await signIn(client, base: base, as: "bt-admin")
                var page = HTTPClientRequest(url: base + "/containers/\(name)")
                page.headers.add(name: "Cookie", value: cookie)
                let response = try await client.execute(page, timeout: .seconds(30))
                // The pages still come over HTTP/2.
                #expect(response.version == .http2)
                let html = String(buffer: try await response.body.collect(upTo: 1 << 22))
                #expect(html.contains("/console\">Console</a>"))
                let browser = Browser(cookie: cookie, csrfToken: try #require(csrfField(in: html)))
                let transcript = try await console(port: port, browser: browser, container: name, tls: true) { console in
                    try await console.waitForPrompt()
                    try await console.type("echo over-tls; exit 4\r")
                    try await console.waitUntilClosed()
                }
                #expect(transcript.output.contains("\nover-tls"))
                #expect(transcript.events.last?["code"] as? Int == 4)
            }
        }
    }

    /// Berth with a certificate of its own (made here), served on a port of its own, and an HTTP client that speaks
    /// HTTP/2 to it (the certificate is not checked).
    func withHTTPSApp(
        configure: (inout AppConfiguration) -> Void = { _ in },
        _ body: @Sendable (_ base: String, _ port: Int, _ client: HTTPClient) async throws -> Void
    ) async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificates = try TestCertificates.make(in: directory)
        let certificate = certificates.certificatePath
        let key = certificates.keyPath

        var clientConfiguration = HTTPClient.Configuration(timeout: .init(connect: .seconds(30), read: nil))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        clientConfiguration.tlsConfiguration = tls
        clientConfiguration.httpVersion = .automatic
        clientConfiguration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration)
        do {
            // The app as `berth serve` builds it, with the certificate; its own test client (plain HTTP) goes unused.
            try await withServedApp(configure: { configuration in
                configuration.tls = .init(certificatePath: certificate, keyPath: key)
                configuration.sessions.secureCookies = true
                configure(&configuration)
            }) { port, _, _ in
                try await body("https://127.0.0.1:\(port)", port, client)
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The browser dance over HTTPS: the form's cookie and token, then the `__Host-` session cookie.
    func signIn(_ client: HTTPClient, base: String, as user: String) async throws -> String {
        let form = try await client.execute(HTTPClientRequest(url: base + "/login"), timeout: .seconds(30))
        let loginCookie = try #require(form.headers["Set-Cookie"].first { $0.contains("berth-login=") }).prefix { $0 != ";" }
        let html = String(buffer: try await form.body.collect(upTo: 1 << 20))
        let token = try #require(csrfField(in: html))
        var post = HTTPClientRequest(url: base + "/login")
        post.method = .POST
        post.headers.add(name: "Cookie", value: String(loginCookie))
        post.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        post.headers.add(name: "Origin", value: base)
        post.body = .bytes(formBody([("_csrf", token), ("username", user), ("password", try TestUsers.password())]))
        let response = try await client.execute(post, timeout: .seconds(30))
        #expect(response.status == .seeOther)
        let session = try #require(response.headers["Set-Cookie"].first { $0.hasPrefix("__Host-berth=") })
        return String(session.prefix { $0 != ";" })
    }
}
