import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// One log line per request, and the request metrics: request id (the logger's `hb.request.id`), user, method, route
/// pattern, status and duration, as metadata.
///
/// It logs the route *pattern* (`/containers/{id}`), never the request's path or query: paths can carry secrets
/// (share-link tokens in `/s/{token}`, image references with registry names), and a path that matched no route is
/// logged as `unmatched`. The duration runs until the response head is ready; a stream's body goes on after it.
/// Outermost in the chain, so that it sees every answer: refusals, error pages and 431s included.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext

    let metrics: BerthMetrics
    let level: Logger.Level

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            finish(request, context, status: response.status.code, started: started)
            return response
        } catch {
            // Inner middleware turns errors into pages; whatever still escapes is answered by Hummingbird.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            finish(request, context, status: status, started: started)
            throw error
        }
    }

    private func finish(_ request: Request, _ context: Context, status: Int, started: ContinuousClock.Instant) {
        // No route matched: a static file, or Hummingbird's 404, which it files under "NotFound".
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? BerthMetrics.unmatchedRoute
        metrics.countRequest(route: route, method: request.method.rawValue, status: status)
        let elapsed = ContinuousClock.now - started
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method.rawValue)",
            "http.route": "\(route)",
            "http.status": "\(status)",
            "duration_ms": "\(Self.milliseconds(elapsed))",
        ]
        // Set by the access check (or a sign-in) further in, on this request's shared observation.
        if let user = context.observed.username { metadata["user"] = "\(user)" }
        context.logger.log(level: level, "request", metadata: metadata)
    }

    /// Milliseconds with one decimal: `0.4`, `12.0`.
    static func milliseconds(_ duration: Duration) -> String {
        let tenths = Int((duration / .microseconds(100)).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// What inner middleware learns about a request that the request log, further out, reports.
///
/// The request context is a value: the copy the outermost middleware holds never sees `user` set by the access check.
/// This reference is shared by every copy of one request's context.
final class ObservedRequest: Sendable {
    private let box = NIOLockedValueBox<String?>(nil)

    /// The signed-in user, once known.
    var username: String? {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }
}
