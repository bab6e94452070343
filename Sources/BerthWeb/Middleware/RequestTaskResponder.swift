import Hummingbird

/// Answers each request in a child task of the connection's task, which then only writes the response.
///
/// Swift's task allocator keeps the slabs a task's deepest moment needed until the task ends, and a connection's task
/// lives as long as the connection: a live view's connection paid, for its whole life, for the deepest call chain it
/// ever ran — the middlewares, the session's database read, the route. In a child task that chain's memory goes back
/// when the answer is ready; what stays with the connection is what writing the body needs.
struct RequestTaskResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: Sendable {
    typealias Context = Inner.Context
    let inner: Inner

    @Sendable func respond(to request: Request, context: Context) async throws -> Response {
        try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask { try await inner.respond(to: request, context: context) }
            return try await group.next()!
        }
    }
}

/// Builds the router's responder, wrapped in ``RequestTaskResponder``.
struct RequestTaskResponderBuilder<Builder: HTTPResponderBuilder>: HTTPResponderBuilder where Builder.Responder.Context: Sendable {
    let builder: Builder

    func buildResponder() -> RequestTaskResponder<Builder.Responder> {
        RequestTaskResponder(inner: builder.buildResponder())
    }
}
