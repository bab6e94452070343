@testable import BerthWeb
import BerthStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Through a real listening socket: what the router tests can't show (peer addresses, proxies).
@Suite struct LiveServerTests {
    func withLiveApp(trustedProxy: String?, _ body: @Sendable (any TestClientProtocol, TestApp) async throws -> Void) async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = TestApp.configuration(directory: directory, engine: try TestEngine.address())
        configuration.trustedProxy = trustedProxy
        configuration.port = 0
        let built = try await buildRouter(configuration)
        let app = Application(
            router: built.responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)), services: built.services
        )
        let testApp = TestApp(configuration: configuration)
        try await app.test(.live) { client in try await body(client, testApp) }
    }

    /// Signs in as bt-admin with an `X-Forwarded-For` header and returns the client address the audit recorded.
    func auditedAddress(_ client: some TestClientProtocol, _ app: TestApp, forwardedFor: String) async throws -> String? {
        let form = try await client.execute(uri: "/login", method: .get)
        let loginCookie = try #require(form.setCookie("berth-login")).pair
        let token = try #require(csrfField(in: form.text))
        let response = try await client.execute(
            uri: "/login", method: .post,
            headers: [
                .cookie: loginCookie, .contentType: "application/x-www-form-urlencoded", .secFetchSite: "same-origin",
                .init("X-Forwarded-For")!: forwardedFor,
            ],
            body: formBody([("_csrf", token), ("username", "bt-admin"), ("password", try TestUsers.password())])
        )
        #expect(response.status == .seeOther)
        return try #require(try await app.auditEvents().first { $0.action == "login" && $0.outcome == .ok }).clientAddress
    }

    @Test func signInOverARealSocketRecordsThePeerAndIgnoresForgedForwardedFor() async throws {
        try await withLiveApp(trustedProxy: nil) { client, app in
            let address = try await auditedAddress(client, app, forwardedFor: "203.0.113.9")
            #expect(address == "127.0.0.1")
        }
    }

    @Test func aTrustedProxysForwardedForIsBelieved() async throws {
        try await withLiveApp(trustedProxy: "127.0.0.1") { client, app in
            let address = try await auditedAddress(client, app, forwardedFor: "198.51.100.1, 203.0.113.9")
            #expect(address == "203.0.113.9")
        }
    }
}
