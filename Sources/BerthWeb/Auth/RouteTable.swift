import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// The permission each route declared, by method and path pattern, for the central check to look up.
///
/// A route that exists in the router but not here is refused: undeclared means denied.
public final class RouteTable: Sendable {
    public struct Route: Sendable, Hashable {
        public let method: HTTPRequest.Method
        public let path: String
    }

    private let routes = NIOLockedValueBox<[Route: Permission]>([:])

    public init() {}

    func declare(_ method: HTTPRequest.Method, _ path: String, _ permission: Permission) {
        routes.withLockedValue { $0[Route(method: method, path: path)] = permission }
    }

    /// The permission of a matched route (`path` is the router's pattern, as in `context.endpointPath`).
    public func permission(method: HTTPRequest.Method, path: String) -> Permission? {
        routes.withLockedValue { $0[Route(method: method, path: path)] }
    }

    /// Every declared route, for tests that walk them all.
    public var all: [Route: Permission] { routes.withLockedValue { $0 } }
}

/// Registers routes together with the permission they need. Controllers get this, not the bare router.
struct Routes {
    let router: Router<BerthRequestContext>
    let table: RouteTable

    func get(
        _ path: String, _ permission: Permission,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        on(path, .get, permission, use: handler)
    }

    func post(
        _ path: String, _ permission: Permission,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        on(path, .post, permission, use: handler)
    }

    func on(
        _ path: String, _ method: HTTPRequest.Method, _ permission: Permission,
        use handler: @escaping @Sendable (Request, BerthRequestContext) async throws -> some ResponseGenerator
    ) {
        let routerPath = RouterPath(path)
        table.declare(method, routerPath.description, permission)
        router.on(routerPath, method: method, use: handler)
    }
}
