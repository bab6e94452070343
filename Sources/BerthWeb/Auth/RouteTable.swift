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

/// Registers routes together with the permission they need. Controllers get this, not the bare router. A handler
/// that takes a `SignedInContext` is registered on a group whose context has the user, not optional: its permission
/// must need a session.
struct Routes {
    let router: Router<BerthRequestContext>
    let table: RouteTable
    private let signedIn: RouterGroup<SignedInContext>

    init(router: Router<BerthRequestContext>, table: RouteTable) {
        self.router = router
        self.table = table
        signedIn = router.group(context: SignedInContext.self)
    }

    func get(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        router.on(declare(path, .get, permission, audit: audit), method: .get, use: handler)
    }

    func get(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, SignedInContext) async throws -> some ResponseGenerator
    ) {
        signedIn.on(declareSignedIn(path, .get, permission, audit: audit), method: .get, use: handler)
    }

    func post(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        router.on(declare(path, .post, permission, audit: audit), method: .post, use: handler)
    }

    func post(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        use handler: @escaping @Sendable (Request, SignedInContext) async throws -> some ResponseGenerator
    ) {
        signedIn.on(declareSignedIn(path, .post, permission, audit: audit), method: .post, use: handler)
    }

    /// A WebSocket route: its handshake is a GET through the same central check (which also demands a same-origin
    /// `Origin` and the CSRF token on it), then `shouldUpgrade` decides, then `onUpgrade` has the connection.
    func webSocket(
        _ path: String, _ permission: Permission, audit: AuditAction? = nil,
        shouldUpgrade: @escaping @Sendable (Request, BerthRequestContext) async throws -> RouterShouldUpgrade,
        onUpgrade: @escaping WebSocketDataHandler<WebSocketRouterContext<BerthRequestContext>>
    ) {
        router.ws(declareSignedIn(path, .get, permission, audit: audit), shouldUpgrade: shouldUpgrade, onUpgrade: onUpgrade)
    }

    private func declareSignedIn(
        _ path: String, _ method: HTTPRequest.Method, _ permission: Permission, audit: AuditAction?
    ) -> RouterPath {
        precondition(permission.needsSession, "\(method) \(path): a signed-in handler on a route open without a session")
        return declare(path, method, permission, audit: audit)
    }

    private func declare(_ path: String, _ method: HTTPRequest.Method, _ permission: Permission, audit: AuditAction?) -> RouterPath {
        let routerPath = RouterPath(path)
        table.declare(method, routerPath.description, RouteTable.Rule(permission: permission, auditAction: audit))
        return routerPath
    }
}
