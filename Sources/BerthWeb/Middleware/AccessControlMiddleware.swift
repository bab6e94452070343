import BerthStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The one central check every route passes through.
///
/// 1. The route must have declared a permission (``Routes``); an undeclared route is refused.
/// 2. The session cookie is resolved (timeouts, account re-check); routes for signed-in users need one.
/// 3. The user's role must reach the permission's minimum role (or the client is on loopback and the permission
///    opens to it).
/// 4. State-changing methods need a same-origin `Origin` (or `Sec-Fetch-Site: same-origin`) and the CSRF token; so
///    does a WebSocket handshake, though it is a GET (a page on another site can open a WebSocket with the user's
///    cookie: cross-site WebSocket hijacking).
/// Every refusal is audited.
struct AccessControlMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext

    let routes: RouteTable
    let sessions: SessionManager
    let clients: ClientResolver
    let audit: AuditTrail
    let preferences: PreferencesStore
    let shareLinks: ShareLinks
    let engines: EngineAccess

    /// Name of the cookie that carries the login form's CSRF token before there is a session.
    static let loginCookieName = "berth-login"
    /// Forms are small; this bounds what is read before the handler runs.
    static let maxFormSize = 1024 * 1024

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isWebSocketHandshake(request) else { return try await check(request, context: context, next: next) }
        // hummingbird-websocket answers every refused upgrade with 400; the connection's guard is told the refusal's
        // own status (403, 401, 404), which it puts on that answer.
        do {
            let response = try await check(request, context: context, next: next)
            if response.status != .ok { await ConnectionLimits.refuseUpgrade(response.status, on: context.channel) }
            return response
        } catch let error as HTTPError {
            await ConnectionLimits.refuseUpgrade(error.status, on: context.channel)
            throw error
        }
    }

    private func check(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var request = request
        context.client = clients.client(for: request, remote: context.remoteAddress)
        context.userAgent = request.headers[.userAgent]

        // A connection past the cap (`ConnectionGuard`): only a valid session gets through.
        let overCapacity = request.headers[ConnectionLimits.overCapacityHeader] != nil

        // No matching route: static files and the 404 page, which need no permission.
        guard let path = context.endpointPath else {
            if overCapacity { return Self.atCapacity() }
            return try await next(request, context)
        }

        guard let rule = routes.rule(method: request.method, path: path) else {
            context.logger.error("route without a declared permission refused", metadata: ["route": "\(request.method) \(path)"])
            await audit.record(.accessUndeclaredRoute, outcome: .denied, context: context, targetType: "route", targetId: "\(request.method) \(path)")
            throw HTTPError(.forbidden, message: "This page is not open to anyone.")
        }

        context.auditAction = rule.auditAction
        context.engineAccess = engines
        let permission = rule.permission
        // An engine the URL names that Berth does not know is told only to someone signed in (below).
        var unknownEngine: String?
        if rule.engineScope != .none {
            let named = rule.engineScope == .named ? context.parameters.get("engine") : nil
            if let engine = named.map(engines.directory.named) ?? engines.directory.local {
                context.scopedEngine = engine
                context.enginePath = named == nil ? "" : engine.path
            } else {
                unknownEngine = named
            }
        }
        if permission.viaShareLink {
            if overCapacity { return Self.atCapacity() }
            // A share link's cookie opens its one dashboard, for reading; the signed-in session is not consulted.
            context.shareViewer = try await admitShareViewer(request, context: context, path: path, rule: rule)
            return try await next(request, context)
        }
        var endedSession = false
        if let token = request.cookies[sessions.cookieName]?.value, !token.isEmpty {
            // An EventSource (re)connecting is the page, not the person: it keeps no session alive.
            let isStream = request.headers[.accept]?.contains("text/event-stream") == true
            switch await sessions.resolve(token: token, activity: !isStream) {
            case .valid(let user):
                context.user = user
                context.preferences = await preferences.preferences(of: user.username)
            case .ended(let username, let reason):
                endedSession = true
                await audit.record(.sessionEnd, outcome: .ok, context: context, actor: username, error: reason)
            case .none:
                endedSession = true
            }
        }

        if overCapacity && context.user == nil { return Self.atCapacity() }

        // Loopback clients pass routes that open to them (`/metrics` for a local scraper). `client` is resolved after
        // the trusted proxy, so requests relayed by a proxy on this machine count as their browser's address.
        let passesAsLocal = permission.opensToLoopback && context.client?.isLoopback == true
        if let minimumRole = permission.minimumRole, !passesAsLocal {
            guard var user = context.user else {
                var response = signInFirst(request)
                if endedSession { response.setCookie(sessions.expiredCookie()) }
                return response
            }
            // Refused like a permission: recorded when it changes something or the route records its reads.
            let recorded = !Self.safeMethods.contains(request.method) || rule.auditAction != nil || Self.isWebSocketHandshake(request)
            if let unknownEngine {
                if recorded {
                    await audit.record(
                        rule.auditAction ?? .accessDenied, outcome: .denied, context: context, targetType: "engine",
                        targetId: String(unknownEngine.prefix(64)), error: "no such engine"
                    )
                }
                throw HTTPError(.notFound, message: Self.noSuchEngine(unknownEngine))
            }
            if let engine = context.scopedEngine {
                // On an engine of its own groups, the role there is what they give; none: the engine is not shown.
                guard let onEngine = engines.roles.user(user, on: engine) else {
                    if recorded {
                        await audit.record(
                            rule.auditAction ?? .accessDenied, outcome: .denied, context: context, targetType: "engine", targetId: engine.name,
                            parameters: ["needs": permission.name], error: "no role on the engine \(engine.name)"
                        )
                    }
                    // The same words as for an engine that does not exist: names are not told to those without a role.
                    throw HTTPError(.notFound, message: Self.noSuchEngine(engine.name))
                }
                user = onEngine
                context.user = user
            }
            guard permission.admits(user) else {
                // Recorded as the action that was refused, on its target when the route names one.
                let target = context.parameters.get("id") ?? context.parameters.get("name")
                await audit.record(
                    rule.auditAction ?? .accessDenied, outcome: .denied, context: context,
                    targetType: target == nil ? "route" : Self.targetType(ofRoute: path), targetId: target ?? "\(request.method) \(path)",
                    parameters: ["needs": permission.name], error: "role \(user.role.rawValue) lacks \(permission.name)"
                )
                let needs = permission.grant == nil ? "\(minimumRole.rawValue) or higher" : "\(minimumRole.rawValue), or the \(permission.name) group"
                throw HTTPError(.forbidden, message: "Your role (\(user.role.rawValue)) may not do this; it needs \(needs).")
            }
        }

        if !Self.safeMethods.contains(request.method) || Self.isWebSocketHandshake(request) {
            if let refusal = try await checkCSRF(&request, &context) {
                context.logger.notice("cross-site request refused", metadata: ["reason": "\(refusal)"])
                await audit.record(
                    .accessCSRF, outcome: .denied, context: context, targetType: "route", targetId: "\(request.method) \(path)",
                    error: refusal
                )
                throw HTTPError(.forbidden, message: "This request did not come from a Berth page (\(refusal)). Reload the page and try again.")
            }
        }
        return try await next(request, context)
    }

    static let safeMethods: Set<HTTPRequest.Method> = [.get, .head, .options]

    static func noSuchEngine(_ name: String) -> String {
        "Berth knows no engine named “\(name.prefix(64))” that you may use."
    }

    static func isWebSocketHandshake(_ request: Request) -> Bool {
        request.headers[.upgrade]?.lowercased() == "websocket"
    }

    /// A browser's WebSocket can't send headers of its own: the page offers the token as one of the subprotocols
    /// (`berth.csrf.TOKEN`, beside `berth.console`, which the server picks).
    static let webSocketTokenPrefix = "berth.csrf."

    /// The answer past the connection cap to anyone without a session; the connection closes after it.
    static func atCapacity() -> Response {
        Response(
            status: .serviceUnavailable,
            headers: [.retryAfter: "5", .contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: "Berth has as many connections as it takes now. Try again in a few seconds.\n"))
        )
    }

    /// The viewer a share cookie admits to the dashboard of the route's `{id}`; refusals are audited. A revoked or
    /// expired link gets 410, anything else 404 (nothing tells a guesser whether the dashboard exists).
    private func admitShareViewer(_ request: Request, context: Context, path: String, rule: RouteTable.Rule) async throws -> ShareViewer {
        let dashboard = context.parameters.get("id").flatMap(Int64.init)
        func refuse(_ status: HTTPResponse.Status, _ message: String, linkId: Int64? = nil) async -> HTTPError {
            await audit.record(
                rule.auditAction ?? .dashboardLinkDenied, outcome: .denied, context: context,
                actor: linkId.map { "link #\($0)" }, targetType: "dashboard", targetId: dashboard.map(String.init),
                error: message
            )
            return HTTPError(status, message: message)
        }
        guard Self.safeMethods.contains(request.method) else {
            throw await refuse(.forbidden, "A shared dashboard can only be watched.")
        }
        guard let dashboard, let token = request.cookies[shareLinks.cookieName]?.value, !token.isEmpty else {
            throw await refuse(.notFound, "Nothing is shared here, or the link was not opened in this browser.")
        }
        switch await shareLinks.resolve(cookieToken: token, dashboardId: dashboard) {
        case .valid(let viewer):
            return viewer
        case .gone(let reason, let linkId):
            throw await refuse(.gone, reason, linkId: linkId)
        case .none:
            throw await refuse(.notFound, "Nothing is shared here, or the link was not opened in this browser.")
        }
    }

    /// What a route's `{id}` or `{name}` names, from the route's first segments (`/images/{id}/tag` → `image`).
    static func targetType(ofRoute path: String) -> String {
        var segments = path.split(separator: "/")[...]
        if segments.first == "engines" { segments = segments.dropFirst(2) }
        switch segments.first {
        case "containers": return "container"
        case "images": return "image"
        case "networks": return "network"
        case "volumes": return "volume"
        case "dashboards", "shared": return "dashboard"
        case "consoles": return "recording"
        case "swarm": return segments.dropFirst().first == "nodes" ? "node" : "service"
        default: return "route"
        }
    }

    /// Pages redirect to the login form (and back afterwards); anything else gets 401, event streams included (an
    /// `EventSource` would follow the redirect and then fail on the HTML).
    private func signInFirst(_ request: Request) -> Response {
        let wantsStream = request.headers[.accept]?.contains("text/event-stream") == true || request.uri.path.hasSuffix("/stream")
        if (request.method == .get || request.method == .head) && !wantsStream {
            let back = request.uri.description
            let location = "/login?next=" + (back.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/")
            return Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        }
        return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "Sign in first.\n")))
    }

    /// Returns why the request is refused, or nil when it came from one of our pages.
    private func checkCSRF(_ request: inout Request, _ context: inout Context) async throws -> String? {
        // Same origin: browsers send Origin on every POST (`null` when a referrer policy hides it); Sec-Fetch-Site
        // stands in where they do not. A WebSocket handshake always carries Origin in a browser, and must.
        let webSocket = Self.isWebSocketHandshake(request)
        if webSocket && (request.headers[.origin] ?? "null") == "null" { return "WebSocket without Origin" }
        if let origin = request.headers[.origin], origin != "null" {
            let scheme = (context.client?.isSecure ?? false) || sessions.configuration.secureCookies ? "https" : "http"
            guard let host = request.head.authority, origin == "\(scheme)://\(host)" else {
                return "cross-origin request"
            }
        } else if request.headers[.secFetchSite] != "same-origin" {
            return "no Origin header"
        }

        // The token: from a header (scripts), else from the form, or the WebSocket subprotocol.
        var supplied = request.headers[.xCSRFToken]
        if webSocket, supplied == nil {
            supplied = request.headers[values: .secWebSocketProtocol]
                .flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix(Self.webSocketTokenPrefix) }
                .map { String($0.dropFirst(Self.webSocketTokenPrefix.count)) }
        }
        if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
            let body = try await request.body.collect(upTo: Self.maxFormSize)
            let form = FormFields(String(buffer: body))
            context.form = form
            request.body = .init(buffer: body)
            if supplied == nil { supplied = form["_csrf"] }
        }
        let expected = context.user?.csrfToken ?? request.cookies[Self.loginCookieName]?.value
        guard let expected, !expected.isEmpty else { return "no session or login form" }
        guard let supplied, Tokens.equal(supplied, expected) else { return "missing or wrong CSRF token" }
        return nil
    }
}
