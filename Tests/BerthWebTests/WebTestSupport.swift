@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PAMAuth
import Testing
import TestSupport

/// The application under test: real engine, real PAM (the test users), a fresh SQLite file, the repository's
/// templates; short failure delays so tests stay quick.
struct TestApp {
    let configuration: AppConfiguration

    static func configuration(directory: URL, engine: EngineAddress) -> AppConfiguration {
        var configuration = AppConfiguration(
            databasePath: directory.appendingPathComponent("berth.sqlite").path,
            engineAddress: engine,
            templatesDirectory: Repository.templates,
            publicDirectory: Repository.publicFolder,
            logLevel: .warning,
            pam: .init(service: TestUsers.service, failureDelay: .milliseconds(50)),
            roleGroups: RoleGroups(
                admin: TestUsers.adminGroup, operator: TestUsers.operatorGroup, viewer: TestUsers.viewerGroup,
                console: TestUsers.consoleGroup
            )
        )
        // Tests open many streams from one session (fan-out, shared upstreams); the caps have tests of their own.
        configuration.streamLimits = StreamLimits(total: 5000, perSession: 1000, perLink: 1000)
        return configuration
    }

    /// The audit trail the app wrote, newest first.
    func auditEvents() async throws -> [AuditEvent] {
        try await AppDatabase.open(path: configuration.databasePath).recentAuditEvents(limit: 1000)
    }
}

/// Builds the real application for one test and runs `body` against it through Hummingbird's router test client.
func withTestApp<Value: Sendable>(
    engine: EngineAddress? = nil,
    configure: (inout AppConfiguration) -> Void = { _ in },
    extraRoutes: (Routes) -> Void = { _ in },
    _ body: @Sendable (any TestClientProtocol, TestApp) async throws -> Value
) async throws -> Value {
    let directory = try Repository.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = TestApp.configuration(directory: directory, engine: try engine ?? TestEngine.address())
    configure(&configuration)
    let built = try await buildRouter(configuration)
    extraRoutes(built.routes)
    let app = Application(router: built.responder, services: built.services)
    let testApp = TestApp(configuration: configuration)
    return try await app.test(.router) { client in try await body(client, testApp) }
}

/// The application as `berth serve` builds it (with its connection guard), on a port of its own.
func withServedApp(
    configure: (inout AppConfiguration) -> Void = { _ in },
    _ body: @Sendable (_ port: Int, _ client: any TestClientProtocol, _ app: TestApp) async throws -> Void
) async throws {
    let directory = try Repository.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = TestApp.configuration(directory: directory, engine: try TestEngine.address())
    configure(&configuration)
    let built = try await buildRouter(configuration)
    var logger = Logger(label: "berth.test")
    logger.logLevel = .warning
    let app = Application(
        router: built.responder, server: try serverBuilder(configuration, webSocketRouter: built.routes.router),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)), services: built.services, logger: logger
    )
    let testApp = TestApp(configuration: configuration)
    try await app.test(.live) { client in
        try await body(try #require(client.port), client, testApp)
    }
}

/// A signed-in browser: its session cookie and the CSRF token of its pages.
struct Browser: Sendable {
    var cookie: String
    var csrfToken: String

    /// Headers a same-origin page would send with a form POST.
    func postHeaders(csrf: Bool = true) -> HTTPFields {
        var headers: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded", .origin: "http://localhost"]
        if csrf { headers[.xCSRFToken] = csrfToken }
        return headers
    }

    var getHeaders: HTTPFields { [.cookie: cookie] }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The `name=value` part of the Set-Cookie for `name`, and the whole header.
    func setCookie(_ name: String) -> (pair: String, header: String)? {
        for header in headers[values: .setCookie] where header.hasPrefix("\(name)=") {
            return (String(header.prefix { $0 != ";" }), header)
        }
        return nil
    }
}

/// The value of the first hidden `_csrf` field on a page.
func csrfField(in html: String) -> String? {
    guard let range = html.range(of: #"name="_csrf" value=""#) else { return nil }
    return String(html[range.upperBound...].prefix { $0 != "\"" })
}

func formBody(_ fields: [(String, String)]) -> ByteBuffer {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    let text = fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    return ByteBuffer(string: text)
}

/// Fetches the login form and posts it: the whole browser dance. Returns the final response.
func postLogin(
    _ client: some TestClientProtocol, username: String, password: String, next: String = "/containers",
    origin: String = "http://localhost"
) async throws -> TestResponse {
    let form = try await client.execute(uri: "/login", method: .get)
    let loginCookie = try #require(form.setCookie("berth-login")).pair
    let token = try #require(csrfField(in: form.text))
    return try await client.execute(
        uri: "/login", method: .post,
        headers: [.cookie: loginCookie, .contentType: "application/x-www-form-urlencoded", .origin: origin],
        body: formBody([("_csrf", token), ("username", username), ("password", password), ("next", next)])
    )
}

/// Signs in as a test user and returns the browser state.
func signIn(_ client: some TestClientProtocol, as username: String) async throws -> Browser {
    let response = try await postLogin(client, username: username, password: try TestUsers.password())
    #expect(response.status == .seeOther, "sign-in of \(username) failed: \(response.text)")
    let cookie = try #require(response.setCookie("berth")).pair
    let page = try await client.execute(uri: "/containers", method: .get, headers: [.cookie: cookie])
    let csrf = try #require(csrfField(in: page.text), "the page header carries the logout form")
    return Browser(cookie: cookie, csrfToken: csrf)
}

extension HTTPField.Name {
    static let origin = Self("Origin")!
    static let xCSRFToken = Self("X-CSRF-Token")!
    static let secFetchSite = Self("Sec-Fetch-Site")!
}

/// A form POST from a signed-in page (the CSRF token in its header, as the pages' scripts send it).
func post(
    _ client: some TestClientProtocol, _ browser: Browser, _ uri: String, _ fields: [(String, String)] = []
) async throws -> TestResponse {
    try await client.execute(uri: uri, method: .post, headers: browser.postHeaders(), body: formBody(fields))
}

/// The banner the next page shows after a redirect with a flash.
func flash(after response: TestResponse, _ client: some TestClientProtocol, _ browser: Browser) async throws -> String? {
    guard let location = response.headers[.location], let flash = response.setCookie("berth-flash") else { return nil }
    let page = try await client.execute(uri: location, method: .get, headers: [.cookie: "\(browser.cookie); \(flash.pair)"])
    guard let start = page.text.range(of: #"role="status">"#), let end = page.text[start.upperBound...].range(of: "</div>") else {
        return nil
    }
    return String(page.text[start.upperBound..<end.lowerBound])
}

/// Waits for the job a POST started (its answer leads to `/jobs/{id}`) to end; its row.
func finishedJob(after response: TestResponse, _ app: TestApp, timeout: Duration = .seconds(60)) async throws -> JobRecord {
    let location = try #require(response.headers[.location])
    let id = try #require(Int64(location.replacingOccurrences(of: "/jobs/", with: "")), "not a job: \(location)")
    let database = try AppDatabase.open(path: app.configuration.databasePath)
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let job = try await database.job(id: id), job.state.isFinal { return job }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestSetupError("job \(id) did not end within \(timeout)")
}
