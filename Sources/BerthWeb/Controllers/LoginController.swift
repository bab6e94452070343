import BerthStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import PAMAuth

/// Sign-in through PAM, and sign-out.
struct LoginController: Sendable {
    let pam: PAMAuthenticator
    let accounts: AccountPolicy
    let sessions: SessionManager
    let throttle: LoginThrottle
    let audit: AuditTrail
    let views: PageRenderer
    let metrics: BerthMetrics

    /// The same words for an unknown user and a wrong password.
    static let badCredentialsMessage = "Wrong username or password."
    /// A sign-in that PAM accepted but Berth could not put on record (a full disk, a locked database).
    static let cannotWriteMessage =
        "Sign-in is unavailable: Berth cannot write to its database right now (its disk may be full). Ask an administrator."

    func addRoutes(to routes: Routes) {
        routes.get("/login", .anyone, use: showForm)
        routes.post("/login", .anyone, audit: .login, use: signIn)
        routes.post("/logout", .signedIn, audit: .logout, use: signOut)
    }

    /// `GET /login`: the form, with a fresh login CSRF token in a cookie and the form.
    @Sendable func showForm(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
        if context.user != nil {
            return .redirect(to: next, type: .normal)
        }
        return try renderForm(next: next, username: "", message: nil, status: .ok, context: context)
    }

    /// `POST /login`: the CSRF check has passed (middleware); now throttle, PAM, groups, session.
    @Sendable func signIn(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let form = context.form
        let typed = form["username"] ?? ""
        let password = form["password"] ?? ""
        let next = Self.safeNext(form["next"])
        let address = context.client?.address ?? "unknown"
        // As typed, cut: the audit keeps what was tried without letting it grow without bound.
        let actor = String(typed.prefix(64))

        func refuse(_ message: String, status: HTTPResponse.Status, reason: String) async throws -> Response {
            metrics.countLogin(succeeded: false)
            await audit.record(outcome: .denied, context: context, actor: actor, error: reason, started: started)
            return try renderForm(next: next, username: typed, message: message, status: status, context: context)
        }

        guard UsernamePolicy.isAcceptable(typed), !password.isEmpty else {
            throttle.recordFailure(username: actor, address: address)
            return try await refuse(Self.badCredentialsMessage, status: .unauthorized, reason: "invalid username or empty password")
        }
        if throttle.isLockedOut(username: typed, address: address) {
            return try await refuse(
                "Too many failed sign-ins. Try again later.", status: .tooManyRequests, reason: "locked out by throttling"
            )
        }

        // Every refusal from here on looks the same and takes as long as a wrong password: whether the password was
        // right (an account in no group, an expired one) is for the audit row only.
        let pamStarted = NIODeadline.now()
        func refuseAsWrongPassword(reason: String) async throws -> Response {
            await pam.waitOutFailureDelay(since: pamStarted)
            return try await refuse(Self.badCredentialsMessage, status: .unauthorized, reason: reason)
        }
        let outcome: PAMOutcome
        do {
            outcome = try await pam.authenticate(username: typed, password: password, clientAddress: address)
        } catch {
            return try await refuse(
                "Too many logins in progress. Try again in a moment.", status: .serviceUnavailable, reason: "too many logins in progress"
            )
        }
        switch outcome {
        case .success:
            break
        case .badCredentials:
            if throttle.recordFailure(username: typed, address: address) {
                await audit.record(.loginLockout, outcome: .denied, context: context, actor: actor, error: "throttle limit reached")
            }
            return try await refuseAsWrongPassword(reason: "wrong username or password")
        case .accountExpired, .passwordExpired, .accessDenied:
            throttle.recordFailure(username: typed, address: address)
            return try await refuseAsWrongPassword(reason: "PAM: \(outcome)")
        case .unanswerablePrompt, .systemError:
            return try await refuse(
                "Sign-in is not available right now; the server log says why.", status: .serviceUnavailable, reason: "PAM: \(outcome)"
            )
        }

        let role: Role
        let grants: Set<Grant>
        switch accounts.role(of: typed) {
        case .allowed(let granted, let powers):
            role = granted
            grants = powers
        case .refused(let reason):
            throttle.recordFailure(username: typed, address: address)
            return try await refuseAsWrongPassword(reason: reason)
        }
        throttle.recordSuccess(username: typed, address: address)

        // A fresh token at every sign-in: a cookie planted before sign-in is worth nothing after it.
        if let old = context.user { try? await sessions.end(sessionKey: old.sessionKey) }
        let token: String
        let user: SignedInUser
        do {
            (token, user) = try await sessions.create(username: typed, role: role, grants: grants, clientAddress: address, userAgent: context.userAgent)
        } catch {
            context.logger.error("cannot store a new session", metadata: ["error": "\(error)"])
            return try await refuse(Self.cannotWriteMessage, status: .serviceUnavailable, reason: "session not stored: \(error)")
        }
        var signedIn = context
        signedIn.user = user
        // No session without its record.
        guard await audit.record(outcome: .ok, context: signedIn, started: started) else {
            try? await sessions.end(sessionKey: user.sessionKey)
            metrics.countLogin(succeeded: false)
            return try renderForm(next: next, username: typed, message: Self.cannotWriteMessage, status: .serviceUnavailable, context: context)
        }
        metrics.countLogin(succeeded: true)
        var response = Response.redirect(to: next, type: .normal)
        response.setCookie(sessions.cookie(token: token))
        response.setCookie(Cookie(name: AccessControlMiddleware.loginCookieName, value: "", maxAge: 0, path: "/login", httpOnly: true, sameSite: .strict))
        return response
    }

    /// `POST /logout`: ends the session in the database, not only in the browser.
    @Sendable func signOut(_ request: Request, context: SignedInContext) async throws -> Response {
        try await sessions.end(sessionKey: context.user.sessionKey)
        await audit.record(outcome: .ok, context: context)
        var response = Response.redirect(to: "/login", type: .normal)
        response.setCookie(sessions.expiredCookie())
        return response
    }

    private func renderForm(next: String, username: String, message: String?, status: HTTPResponse.Status, context: BerthRequestContext) throws -> Response {
        let token = Tokens.random()
        var response = try views.page(
            "login", LoginPage(next: next, username: username, message: message, csrfToken: token), context: context, status: status
        )
        response.setCookie(
            Cookie(name: AccessControlMiddleware.loginCookieName, value: token, maxAge: 3600, path: "/login", secure: sessions.configuration.secureCookies, httpOnly: true, sameSite: .strict)
        )
        return response
    }

    /// Only a local path: `next=https://evil.example` or `//evil.example` would make the login an open redirect.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/\\"),
            !next.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return "/" }
        return next
    }
}
