import Foundation
import Hummingbird
import Mustache

/// Renders the Mustache templates of `Templates/`, loaded once at start.
///
/// `{{value}}` escapes HTML; templates never use the unescaped `{{{value}}}` for anything that came from the engine.
public struct PageRenderer: Sendable {
    let library: MustacheLibrary

    /// Templates the app cannot do without; a missing one stops the start with a clear message.
    static let requiredTemplates = ["base", "containers", "error"]

    public static func load(directory: String) async throws -> PageRenderer {
        let library: MustacheLibrary
        do {
            library = try await MustacheLibrary(directory: directory)
        } catch {
            throw TemplateError(directory: directory, reason: "a template does not parse: \(error)")
        }
        // An unreadable folder gives an empty library rather than an error.
        let missing = requiredTemplates.filter { library.getTemplate(named: $0) == nil }
        guard missing.isEmpty else {
            throw TemplateError(
                directory: directory,
                reason: "missing \(missing.map { "\($0).mustache" }.joined(separator: ", ")) (set --templates or BERTH_TEMPLATES)"
            )
        }
        return PageRenderer(library: library)
    }

    /// Renders a page as an HTML response.
    func page(_ template: String, _ context: some Sendable, status: HTTPResponse.Status = .ok) throws -> Response {
        guard let html = library.render(context, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "page template '\(template)' is missing")
        }
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }
}

/// The templates folder can't be used.
public struct TemplateError: Error, CustomStringConvertible {
    public let directory: String
    public let reason: String

    public var description: String { "templates in '\(directory)': \(reason)" }
}
