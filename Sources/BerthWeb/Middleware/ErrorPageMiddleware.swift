import Hummingbird
import Logging

/// Turns any error a route throws into an HTML page with a plain message. Unknown errors are logged and shown as a
/// generic 500: their text may hold internals, and the page never shows a stack trace.
struct ErrorPageMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext

    let views: PageRenderer
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return try render(status: error.status, message: error.body ?? error.status.reasonPhrase, headers: error.headers, context: context)
        } catch let error as any HTTPResponseError {
            return try render(status: error.status, message: error.status.reasonPhrase, headers: [:], context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return try render(status: .internalServerError, message: "Something went wrong; the server log has details.", headers: [:], context: context)
        }
    }

    private func render(status: HTTPResponse.Status, message: String, headers: HTTPFields, context: Context) throws -> Response {
        var response = try views.page(
            "error", ErrorPage(title: status.reasonPhrase, status: status.code, message: message), context: context, status: status
        )
        for field in headers where field.name != .contentType && field.name != .contentLength {
            response.headers.append(field)
        }
        return response
    }
}
