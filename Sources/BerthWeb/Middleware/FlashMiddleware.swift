import Foundation
import Hummingbird

/// A one-time message carried across a redirect (Post/Redirect/Get): an action sets it, the next page shows it once.
public struct Flash: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case ok, error
    }

    public let kind: Kind
    public let message: String
    /// Stored for the templates, which see stored properties only.
    let isError: Bool

    static let cookieName = "berth-flash"
    /// Messages come from the daemon too; a cookie has room for a few kilobytes only.
    static let maxLength = 600

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = String(message.prefix(Self.maxLength))
        self.isError = kind == .error
    }

    var cookieValue: String {
        let text = "\(kind.rawValue):\(message)"
        return Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    init?(cookieValue: String) {
        var base64 = cookieValue.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon])) else { return nil }
        self.init(kind, String(text[text.index(after: colon)...]))
    }
}

extension Response {
    /// A redirect that shows `flash` on the page it leads to.
    static func redirect(to location: String, flash: Flash) -> Response {
        var response = Response.redirect(to: location, type: .normal)
        response.setCookie(Cookie(name: Flash.cookieName, value: flash.cookieValue, maxAge: 60, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }
}

/// Reads the flash cookie into the context and clears it once a page has shown it.
struct FlashMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get, let value = request.cookies[Flash.cookieName]?.value, !value.isEmpty else {
            return try await next(request, context)
        }
        var context = context
        context.flash = Flash(cookieValue: value)
        var response = try await next(request, context)
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.setCookie(Cookie(name: Flash.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }
}
