@testable import BerthWeb
import BerthStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PAMAuth
import Testing
import TestSupport

@Suite struct AccessControlTests {
    @Test func withoutASessionOnlyPublicRoutesAnswer() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let built = try await buildRouter(TestApp.configuration(directory: directory, engine: try TestEngine.address()))
        let declared = built.routes.table.all
        #expect(declared.count >= 5)
        let app = Application(router: built.responder, services: built.services)
        try await app.test(.router) { client in
            for (route, permission) in declared {
                // Parameters in a pattern are filled with a harmless value.
                let uri = route.path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "x", options: .regularExpression)
                let response = try await client.execute(
                    uri: uri, method: route.method, headers: [.origin: "http://localhost"], body: ByteBuffer()
                )
                if permission.viaShareLink {
                    // A share link's pages without its cookie: nothing is there, as far as anyone can tell.
                    #expect(response.status == .notFound || response.status == .forbidden, "\(route.method) \(uri)")
                } else if permission.minimumRole == nil {
                    #expect(response.status != .unauthorized && response.status != .seeOther || uri == "/login", "\(route.method) \(uri)")
                } else if route.method == .get && uri.hasSuffix("/stream") {
                    // Event streams: an EventSource can't follow a redirect to a form.
                    #expect(response.status == .unauthorized, "\(route.method) \(uri)")
                } else if route.method == .get {
                    #expect(response.status == .seeOther, "\(route.method) \(uri)")
                    #expect(response.headers[.location]?.hasPrefix("/login?next=") == true, "\(route.method) \(uri)")
                } else {
                    #expect(response.status == .unauthorized, "\(route.method) \(uri)")
                }
            }
            // The public ones, by name.
            #expect(Set(declared.filter { $0.value.minimumRole == nil && !$0.value.viaShareLink }.map { "\($0.key.method) \($0.key.path)" })
                == ["GET /healthz", "GET /login", "POST /login", "GET /s/{token}"])
            #expect(declared.filter { $0.value.viaShareLink }.allSatisfy { $0.key.method == .get && $0.key.path.hasPrefix("/shared/{id}") })
        }
    }

    /// What a handler records under comes from its route: every route that can change something declares it, and
    /// none declares one outside the list the audit page offers.
    @Test func everyRouteThatChangesSomethingDeclaresItsAuditAction() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let built = try await buildRouter(TestApp.configuration(directory: directory, engine: try TestEngine.address()))
        let rules = built.routes.table.rules
        let changing = rules.filter { !AccessControlMiddleware.safeMethods.contains($0.key.method) }
        #expect(changing.count >= 30)
        for (route, rule) in changing {
            #expect(rule.auditAction != nil, "\(route.method) \(route.path) declares no audit action")
        }
        #expect(rules[RouteTable.Route(method: .post, path: "/containers/{id}/stop")]?.auditAction == .containerStop)
        #expect(rules[RouteTable.Route(method: .post, path: "/containers/run")]?.auditAction == .containerRun)
        // Runs the app's services once, so that they stop as they should (the engine client among them).
        try await Application(router: built.responder, services: built.services).test(.router) { _ in }
    }

    @Test func aRouteRegisteredWithoutAPermissionIsRefused() async throws {
        try await withTestApp(extraRoutes: { routes in
            // Straight on the router, bypassing the declaration.
            routes.router.get("/forgotten") { _, _ in "secret" }
        }) { client, app in
            let browser = try await signIn(client, as: "bt-admin")
            let response = try await client.execute(uri: "/forgotten", method: .get, headers: browser.getHeaders)
            #expect(response.status == .forbidden)
            #expect(!response.text.contains("secret"))
            #expect(try await app.auditEvents().contains { $0.action == "access.undeclared-route" && $0.targetId == "GET /forgotten" })
        }
    }

    @Test func aRoleBelowTheRoutesPermissionGets403AndAnAuditRecord() async throws {
        try await withTestApp(extraRoutes: { routes in
            routes.post("/test/admin-only", .administer) { (_, _: SignedInContext) in "done" }
            routes.post("/test/operate", .operateContainers) { (_, _: SignedInContext) in "operated" }
        }) { client, app in
            let viewer = try await signIn(client, as: "bt-viewer")
            let denied = try await client.execute(uri: "/test/operate", method: .post, headers: viewer.postHeaders(), body: formBody([]))
            #expect(denied.status == .forbidden)
            #expect(denied.text.contains("Your role (viewer) may not do this; it needs operator or higher."))
            let operatorBrowser = try await signIn(client, as: "bt-operator")
            let operated = try await client.execute(uri: "/test/operate", method: .post, headers: operatorBrowser.postHeaders(), body: formBody([]))
            #expect(operated.text == "operated")
            let notAdmin = try await client.execute(uri: "/test/admin-only", method: .post, headers: operatorBrowser.postHeaders(), body: formBody([]))
            #expect(notAdmin.status == .forbidden)
            let admin = try await signIn(client, as: "bt-admin")
            let done = try await client.execute(uri: "/test/admin-only", method: .post, headers: admin.postHeaders(), body: formBody([]))
            #expect(done.text == "done")
            let denials = try await app.auditEvents().filter { $0.action == "access.denied" }
            #expect(Set(denials.map(\.actor)) == ["bt-viewer", "bt-operator"])
            #expect(denials.allSatisfy { $0.outcome == .denied })
        }
    }

    @Test func crossOriginAndOriginlessPostsAreRefusedEvenWithAValidToken() async throws {
        try await withTestApp { client, app in
            let browser = try await signIn(client, as: "bt-viewer")
            var crossOrigin = browser.postHeaders()
            crossOrigin[.origin] = "https://evil.example"
            let cross = try await client.execute(uri: "/logout", method: .post, headers: crossOrigin, body: formBody([]))
            #expect(cross.status == .forbidden)

            var noOrigin = browser.postHeaders()
            noOrigin[.origin] = nil
            let originless = try await client.execute(uri: "/logout", method: .post, headers: noOrigin, body: formBody([]))
            #expect(originless.status == .forbidden)

            // `Origin: null` (what a hidden origin looks like) counts as no Origin.
            var nullOrigin = browser.postHeaders()
            nullOrigin[.origin] = "null"
            #expect(try await client.execute(uri: "/logout", method: .post, headers: nullOrigin, body: formBody([])).status == .forbidden)

            // Sec-Fetch-Site stands in for a missing Origin.
            var fetchSite = noOrigin
            fetchSite[.secFetchSite] = "same-origin"
            let sameSite = try await client.execute(uri: "/logout", method: .post, headers: fetchSite, body: formBody([]))
            #expect(sameSite.status == .seeOther)
            #expect(try await app.auditEvents().filter { $0.action == "access.csrf" }.count == 3)
        }
    }

    @Test func aMissingOrWrongCSRFTokenIsRefused() async throws {
        try await withTestApp { client, _ in
            let browser = try await signIn(client, as: "bt-viewer")
            let missing = try await client.execute(uri: "/logout", method: .post, headers: browser.postHeaders(csrf: false), body: formBody([]))
            #expect(missing.status == .forbidden)
            let wrong = try await client.execute(
                uri: "/logout", method: .post, headers: browser.postHeaders(csrf: false), body: formBody([("_csrf", "guess")])
            )
            #expect(wrong.status == .forbidden)
            // The token in the form field works as well as the header.
            let right = try await client.execute(
                uri: "/logout", method: .post, headers: browser.postHeaders(csrf: false), body: formBody([("_csrf", browser.csrfToken)])
            )
            #expect(right.status == .seeOther)
        }
    }

    @Test func theLoginFormIsProtectedAgainstLoginCSRF() async throws {
        let password = try TestUsers.password()
        try await withTestApp { client, _ in
            // A cross-site form posting the attacker's credentials: no login cookie, a foreign Origin.
            let forged = try await client.execute(
                uri: "/login", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .origin: "https://evil.example"],
                body: formBody([("username", "bt-viewer"), ("password", password)])
            )
            #expect(forged.status == .forbidden)
            #expect(forged.setCookie("berth") == nil)
            // Same origin but without the form's token.
            let tokenless = try await client.execute(
                uri: "/login", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .origin: "http://localhost"],
                body: formBody([("username", "bt-viewer"), ("password", password)])
            )
            #expect(tokenless.status == .forbidden)
        }
    }

    @Test func securityHeadersOnEveryResponse() async throws {
        try await withTestApp { client, _ in
            for uri in ["/login", "/css/berth.css", "/no/such/page", "/healthz", "/containers"] {
                let response = try await client.execute(uri: uri, method: .get)
                let csp = try #require(response.headers[.contentSecurityPolicy], "\(uri)")
                #expect(csp.contains("object-src 'none'"))
                #expect(csp.contains("base-uri 'none'"))
                #expect(csp.contains("frame-ancestors 'none'"))
                #expect(csp.contains("script-src 'self'"))
                #expect(!csp.contains("unsafe-inline"))
                #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(uri)")
                #expect(response.headers[.init("Referrer-Policy")!] == "same-origin", "\(uri)")
                #expect(response.headers[.init("Cross-Origin-Resource-Policy")!] == "same-origin", "\(uri)")
                #expect(response.headers[.strictTransportSecurity] == nil)
            }
        }
    }

    @Test func behindTLSResponsesCarryHSTS() async throws {
        try await withTestApp(configure: { $0.sessions.secureCookies = true }) { client, _ in
            let response = try await client.execute(uri: "/login", method: .get)
            #expect(response.headers[.strictTransportSecurity]?.hasPrefix("max-age=") == true)
        }
    }

    @Test func oversizedRequestHeadsAreRefused() async throws {
        try await withTestApp { client, _ in
            let response = try await client.execute(
                uri: "/login", method: .get, headers: [.init("X-Padding")!: String(repeating: "a", count: 9000)]
            )
            #expect(response.status.code == 431)
        }
    }
}

@Suite struct ThrottleTests {
    @Test func consecutiveFailuresLockOutThatAccountButNotOthers() async throws {
        let password = try TestUsers.password()
        try await withTestApp(configure: { $0.throttle.maxConsecutiveFailures = 3 }) { client, app in
            for _ in 0..<3 {
                #expect(try await postLogin(client, username: "bt-throttle1", password: "wrong").status == .unauthorized)
            }
            // Now even the right password is refused, without asking PAM.
            let locked = try await postLogin(client, username: "bt-throttle1", password: password)
            #expect(locked.status == .tooManyRequests)
            #expect(locked.text.contains("Too many failed sign-ins"))
            #expect(locked.setCookie("berth") == nil)
            // An unknown name is locked out the same way, so lockouts tell nothing about which names exist.
            for _ in 0..<3 { _ = try await postLogin(client, username: "bt-ghost", password: "wrong") }
            #expect(try await postLogin(client, username: "bt-ghost", password: "wrong").status == .tooManyRequests)
            // Other accounts sign in as usual.
            #expect(try await postLogin(client, username: "bt-throttle2", password: password).status == .seeOther)
            let events = try await app.auditEvents()
            #expect(events.contains { $0.action == "login.lockout" && $0.actor == "bt-throttle1" })
            #expect(events.contains { $0.action == "login" && $0.actor == "bt-throttle1" && $0.errorMessage == "locked out by throttling" })
        }
    }

    @Test func aLockoutEndsAfterItsWindowAndSuccessResetsTheCount() async throws {
        let password = try TestUsers.password()
        // Six seconds of lockout: long enough that a loaded machine still sees it, short enough to wait out.
        try await withTestApp(configure: { $0.throttle.maxConsecutiveFailures = 2; $0.throttle.lockout = 6 }) { client, _ in
            _ = try await postLogin(client, username: "bt-throttle3", password: "wrong")
            #expect(try await postLogin(client, username: "bt-throttle3", password: password).status == .seeOther)
            // The success cleared the count: one more failure does not lock.
            _ = try await postLogin(client, username: "bt-throttle3", password: "wrong")
            #expect(try await postLogin(client, username: "bt-throttle3", password: password).status == .seeOther)
            _ = try await postLogin(client, username: "bt-throttle3", password: "wrong")
            _ = try await postLogin(client, username: "bt-throttle3", password: "wrong")
            #expect(try await postLogin(client, username: "bt-throttle3", password: password).status == .tooManyRequests)
            try await Task.sleep(for: .milliseconds(6100))
            #expect(try await postLogin(client, username: "bt-throttle3", password: password).status == .seeOther)
        }
    }

    @Test func theHourlyAccountLimitCountsFailuresFromEverywhere() {
        let throttle = LoginThrottle(configuration: .init(maxConsecutiveFailures: 5, lockout: 900, maxFailuresPerHour: 4))
        let now = Date()
        for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
            #expect(!throttle.isLockedOut(username: "alice", address: "198.51.100.9", now: now))
            throttle.recordFailure(username: "alice", address: address, now: now)
        }
        #expect(throttle.isLockedOut(username: "alice", address: "198.51.100.9", now: now))
        #expect(!throttle.isLockedOut(username: "bob", address: "192.0.2.1", now: now))
        // An hour later the account is free again.
        #expect(!throttle.isLockedOut(username: "alice", address: "198.51.100.9", now: now.addingTimeInterval(3601)))
    }
}

/// Timing-sensitive: scripts/test runs this suite with nothing else running, so that other load does not blur it.
@Suite struct ResponsivenessTests {
    @Test func parallelLoginsBeyondTheBoundGet503AndTheServerStaysResponsive() async throws {
        let password = try TestUsers.password()
        try await withTestApp(configure: { $0.pam.service = TestUsers.slowService }) { client, _ in
            async let statuses: [HTTPResponse.Status] = withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await postLogin(client, username: "bt-parallel", password: password).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // While PAM is busy (each attempt spends 2 s there, ten of them on two threads), the server answers other
            // requests promptly; blocked behind PAM it would take seconds each time. The quickest of three counts.
            try await Task.sleep(for: .milliseconds(300))
            let clock = ContinuousClock()
            var quickest = Duration.seconds(60)
            for _ in 0..<3 {
                var health: HTTPResponse.Status?
                let took = try await clock.measure {
                    health = try await client.execute(uri: "/healthz", method: .get).status
                }
                #expect(health == .ok)
                quickest = min(quickest, took)
            }
            #expect(quickest < .milliseconds(500))
            let results = try await statuses
            #expect(results.filter { $0 == .serviceUnavailable }.count == 2)
            #expect(results.filter { $0 == .seeOther }.count == 10)
        }
    }
}
