import HTTPTypes
import Hummingbird

/// Security headers on every response, and a bound on request heads.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext

    /// Request heads larger than this are refused with 431.
    static var maxHeadSize: Int { 8 * 1024 }

    static var contentSecurityPolicy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    }

    let clients: ClientResolver
    /// Set when Berth sits behind TLS (`--secure-cookies`): then HSTS is always sent.
    let alwaysSecure: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let headSize = request.head.headerFields.reduce(request.uri.description.utf8.count) {
            $0 + $1.name.rawName.utf8.count + $1.value.utf8.count + 4
        }
        var response: Response
        if headSize > Self.maxHeadSize {
            response = Response(
                status: .init(code: 431, reasonPhrase: "Request Header Fields Too Large"),
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: .init(string: "Request headers too large.\n"))
            )
        } else {
            do {
                response = try await next(request, context)
            } catch {
                // Error responses get the headers too: build the response here.
                guard let error = error as? any HTTPResponseError else { throw error }
                response = try error.response(from: request, context: context)
            }
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        // Not `no-referrer`: under that policy browsers send `Origin: null` with every form POST, which would defeat
        // the same-origin check. `same-origin` still sends nothing to other sites.
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.crossOriginResourcePolicy] = "same-origin"
        response.headers[.xFrameOptions] = "DENY"
        if alwaysSecure || clients.client(for: request, remote: context.remoteAddress).isSecure {
            response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains"
        }
        return response
    }
}

extension HTTPField.Name {
    static let crossOriginResourcePolicy = Self("Cross-Origin-Resource-Policy")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
}
