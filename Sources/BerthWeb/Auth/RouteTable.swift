import BerthStore
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers

/// The permission each route declared, by method and path pattern, for the central check to look up.
///
/// A route that exists in the router but not here is refused: undeclared means denied.
public final class RouteTable: Sendable {
    public struct Route: Sendable, Hashable {
        public let method: HTTPRequest.Method
        public let path: String
    }

    /// What a route declared: the permission, and the audit action its refusals are recorded under.
    public struct Rule: Sendable, Hashable {
        public let permission: Permission
        /// What the route's handler audits under, and its refusals; nil for routes that record nothing (their
        /// refusals are recorded as `access.denied`).
        public let auditAction: AuditAction?
        /// Which engine the route acts on, and so whose roles the check compares.
        public var engineScope: EngineScope = .none
    }

    private let routes = NIOLockedValueBox<[Route: Rule]>([:])

    public init() {}

    func declare(_ method: HTTPRequest.Method, _ path: String, _ rule: Rule) {
        routes.withLockedValue { $0[Route(method: method, path: path)] = rule }
    }

    /// The rule of a matched route (`path` is the router's pattern, as in `context.endpointPath`).
    public func rule(method: HTTPRequest.Method, path: String) -> Rule? {
        routes.withLockedValue { $0[Route(method: method, path: path)] }
    }

    /// Every declared route and its permission, for tests that walk them all.
    public var all: [Route: Permission] { routes.withLockedValue { $0.mapValues(\.permission) } }

    /// Every declared route and its rule.
    public var rules: [Route: Rule] { routes.withLockedValue { $0 } }
}

/// Which engine a route belongs to.
public enum EngineScope: Sendable, Hashable {
    /// None: the audit trail, settings, dashboards, jobs. The global role counts.
    case none
    /// The engine named in the URL (`/engines/{engine}/…`), or `local` at the same path without that prefix.
    case named
    /// `local`, whatever the URL (areas that do not yet tell engines apart).
    case local
}

/// Registers routes together with the permission they need. Controllers get this, not the bare router. A handler
/// that takes a `SignedInContext` is registered on a group whose context has the user, not optional: its permission
/// must need a session.
struct Routes {
    let router: Router<BerthRequestContext>
    let table: RouteTable
    private let signedIn: RouterGroup<SignedInContext>
    /// What the routes registered through this value act on.
    let engineScope: EngineScope

    init(router: Router<BerthRequestContext>, table: RouteTable) {
        self.init(router: router, table: table, signedIn: router.group(context: SignedInContext.self), engineScope: .none)
    }

    private init(router: Router<BerthRequestContext>, table: RouteTable, signedIn: RouterGroup<SignedInContext>, engineScope: EngineScope) {
        self.router = router
        self.table = table
        self.signedIn = signedIn
        self.engineScope = engineScope
    }

    /// The same registrations for routes of an engine: with `.named`, each route answers at its path (for `local`) and
    /// under `/engines/{engine}`, one handler for both.
    func on(_ scope: EngineScope) -> Routes {
        Routes(router: router, table: table, signedIn: signedIn, engineScope: scope)
    }

    /// The prefix of a named engine's routes.
    static let enginePrefix = "/engines/{engine}"

    func get(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        for path in paths(path) { router.on(declare(path, .get, permission, audit: audit), method: .get, use: handler) }
    }

    func get(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, SignedInContext) async throws -> some ResponseGenerator
    ) {
        for path in paths(path) { signedIn.on(declareSignedIn(path, .get, permission, audit: audit), method: .get, use: handler) }
    }

    func post(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        for path in paths(path) { router.on(declare(path, .post, permission, audit: audit), method: .post, use: handler) }
    }

    func post(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, SignedInContext) async throws -> some ResponseGenerator
    ) {
        for path in paths(path) { signedIn.on(declareSignedIn(path, .post, permission, audit: audit), method: .post, use: handler) }
    }

    /// A WebSocket route: its handshake is a GET through the same central check (which also demands a same-origin
    /// `Origin` and the CSRF token on it), then `shouldUpgrade` decides, then `onUpgrade` has the connection.
    func webSocket(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        shouldUpgrade: @escaping @Sendable (Request, BerthRequestContext) async throws -> RouterShouldUpgrade,
        onUpgrade: @escaping WebSocketDataHandler<WebSocketRouterContext<BerthRequestContext>>
    ) {
        for path in paths(path) {
            router.ws(declareSignedIn(path, .get, permission, audit: audit), shouldUpgrade: shouldUpgrade, onUpgrade: onUpgrade)
        }
    }

    private func paths(_ path: String) -> [String] {
        engineScope == .named ? [path, Self.enginePrefix + path] : [path]
    }

    private func declareSignedIn(
        _ path: String, _ method: HTTPRequest.Method, _ permission: Permission, audit: AuditAction?
    ) -> RouterPath {
        precondition(permission.needsSession, "\(method) \(path): a signed-in handler on a route open without a session")
        return declare(path, method, permission, audit: audit)
    }

    private func declare(_ path: String, _ method: HTTPRequest.Method, _ permission: Permission, audit: AuditAction?) -> RouterPath {
        let routerPath = RouterPath(path)
        table.declare(method, routerPath.description, RouteTable.Rule(permission: permission, auditAction: audit, engineScope: engineScope))
        return routerPath
    }
}
