import Foundation
import Hummingbird
import Mustache
import NIOConcurrencyHelpers

/// Renders the Mustache templates of `Templates/`, loaded once at start.
///
/// `{{value}}` escapes HTML; templates never use the unescaped `{{{value}}}` for anything that came from the engine.
public struct PageRenderer: Sendable {
    let library: MustacheLibrary
    /// The container list's rows as rendered HTML, by their fields.
    let rowCache = RowHTMLCache()

    /// Templates the app cannot do without; a missing one stops the start with a clear message.
    static let requiredTemplates = [
        "base", "header", "containers", "container", "bulk-result", "run", "run-result", "logs", "image", "error", "login",
        "audit", "settings", "container-row", "images", "images-prune", "jobs", "job", "registries", "alerts", "alert-channel", "networks", "network", "volumes", "volumes-prune", "system", "swarm", "service",
        "dashboards", "dashboard", "dashboard-edit", "dashboard-share", "dashboard-container", "projects", "project",
        "project-edit", "project-version", "project-diff", "project-plan", "overview", "engines", "engine-edit",
    ]

    public static func load(directory: String) async throws -> PageRenderer {
        // Content types are looked up while templates are parsed: register ours first.
        MustacheContentTypes.register(FastHTMLContentType(), named: FastHTMLContentType.name)
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
                reason: "missing \(missing.map { "\($0).mustache" }.joined(separator: ", ")) (set --templates, BERTH_TEMPLATES or templates in berth.toml)"
            )
        }
        return PageRenderer(library: library)
    }

    /// Renders a page as an HTML response. Templates see the page's own fields inside `{{#page}}`, and the layout
    /// sees `currentUser` for the header.
    func page(_ template: String, _ page: some Sendable, context: some BerthContext, status: HTTPResponse.Status = .ok) throws -> Response {
        try render(template, PageContext(page, context: context.base), status: status)
    }

    /// Where the container list's rows go in its page: they are written into the response around the rendered page,
    /// so that hundreds of kilobytes of rows are not copied through every section and layout level of the template.
    /// An HTML comment: nothing from the engine can spell it, since `<` is always escaped.
    static let rowsMarker = "<!--berth:rows-->"

    /// The container list: its page, with its rows' HTML (``containerRows(_:)``) put in at ``rowsMarker``.
    func containerListPage(_ page: ContainerListPage, context: some BerthContext) throws -> Response {
        try self.page("containers", page, rows: page.rows, context: context)
    }

    /// A page whose container rows (``containerRows(_:)``) go in at ``rowsMarker``.
    func page(_ template: String, _ page: some Sendable, rows pageRows: [ContainerRow], context: some BerthContext) throws -> Response {
        let html = try renderHTML(template, PageContext(page, context: context.base))
        // The template writes the marker only where it shows the table.
        guard let marker = html.range(of: Self.rowsMarker) else { return htmlResponse(ByteBuffer(string: html), status: .ok) }
        let rows = containerRows(pageRows)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(html.utf8.count + rows.reduce(0) { $0 + $1.utf8.count })
        buffer.writeSubstring(html[..<marker.lowerBound])
        for row in rows { buffer.writeString(row) }
        buffer.writeSubstring(html[marker.upperBound...])
        return htmlResponse(buffer, status: .ok)
    }

    /// The container list's rows, each rendered with `container-row.mustache` once for as long as its fields stay
    /// the same: a list refreshed every few seconds mostly shows rows it showed before.
    func containerRows(_ rows: [ContainerRow]) -> [String] {
        var missing: [ContainerRow: String] = [:]
        var found = rowCache.html(for: rows)
        for (index, row) in rows.enumerated() where found[index] == nil {
            let html = library.render(row, withTemplate: "container-row") ?? ""
            missing[row] = html
            found[index] = html
        }
        if !missing.isEmpty { rowCache.store(missing) }
        return found.map { $0 ?? "" }
    }

    func render(_ template: String, _ object: some Sendable, status: HTTPResponse.Status) throws -> Response {
        htmlResponse(ByteBuffer(string: try renderHTML(template, object)), status: status)
    }

    private func renderHTML(_ template: String, _ object: some Sendable) throws -> String {
        guard let html = library.render(object, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "page template '\(template)' is missing")
        }
        return html
    }

    private func htmlResponse(_ body: ByteBuffer, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: body)
        )
    }
}

/// What every page template renders: the page, and the signed-in user for the layout's header.
struct PageContext<Page: Sendable>: Sendable {
    let page: Page
    let currentUser: CurrentUser?
    let flash: Flash?
    let display: DisplaySettings
    /// What links of the page's engine start with: `/engines/NAME`, or "" at `local`'s plain paths.
    let enginePath: String
    /// The header's engine switcher; nil with one engine, or without a session.
    let engineSwitcher: EngineSwitcher?
    /// The page is `local`'s, or of no engine: what only `local` has yet (update checks) is offered.
    let isLocalEngine: Bool

    init(_ page: Page, context: BerthRequestContext) {
        self.page = page
        currentUser = context.user.map(CurrentUser.init)
        flash = context.flash
        display = DisplaySettings(context.preferences)
        enginePath = context.enginePath
        isLocalEngine = context.scopedEngine?.isLocal ?? true
        engineSwitcher = context.user.flatMap { EngineSwitcher(user: $0, current: context.scopedEngine, access: context.engineAccess) }
    }
}

/// The engines a user may switch to, the page's own marked.
struct EngineSwitcher: Sendable {
    struct Choice: Sendable {
        let name: String
        let path: String
        let role: String
        let current: Bool
    }

    /// The page's engine; nil on pages of no engine.
    let current: String?
    let choices: [Choice]

    init?(user: SignedInUser, current: EngineHandle?, access: EngineAccess?) {
        guard let access, access.directory.all.count > 1 else { return nil }
        self.current = current?.name
        choices = access.roles.engines(of: user, in: access.directory).map { engine, role in
            Choice(name: engine.name, path: engine.path, role: role.rawValue, current: engine.name == current?.name)
        }
    }
}

/// What the layout applies on every page: the theme, and how `time.js` shows times.
struct DisplaySettings: Sendable {
    let theme: String
    let timeZone: String
    let timeStyle: String
    let dateFormat: String

    init(_ preferences: UserPreferences) {
        theme = preferences.theme.rawValue
        timeZone = preferences.timeZone.rawValue
        timeStyle = preferences.timeStyle.rawValue
        dateFormat = preferences.dateFormat.rawValue
    }
}

/// The header's view of the signed-in user.
struct CurrentUser: Sendable {
    let username: String
    let role: String
    let csrfToken: String
    /// What the role may do, for showing only the buttons that will work (the server checks again).
    let canOperate: Bool
    let isAdmin: Bool
    let canOpenConsole: Bool
    /// An admin by the global groups: the links to what belongs to no engine (alerts).
    let isGlobalAdmin: Bool

    init(_ user: SignedInUser) {
        username = user.username
        role = user.role.rawValue
        csrfToken = user.csrfToken
        canOperate = user.role >= .operator
        isAdmin = user.role == .admin
        canOpenConsole = Permission.exec.admits(user)
        isGlobalAdmin = user.globalRole == .admin
    }
}

/// The templates folder can't be used.
public struct TemplateError: Error, CustomStringConvertible {
    public let directory: String
    public let reason: String

    public var description: String { "templates in '\(directory)': \(reason)" }
}

/// Rendered rows by every field they show, for as long as pages show them.
///
/// A row's fields change often (a young container's "Up 3 seconds" every second), and a row shown no longer is kept
/// for nothing: rows live in two generations, and every `lifetime` the older one is dropped; a row a page shows again
/// moves to the newer. So the cache holds about the rows shown in the last one or two lifetimes (it held up to 4,096
/// rows, ~1 MB, mostly of past seconds). `capacity` still bounds each generation.
final class RowHTMLCache: Sendable {
    static let capacity = 4096
    let lifetime: Duration

    init(lifetime: Duration = .seconds(60)) {
        self.lifetime = lifetime
    }

    private struct Generations {
        var current: [ContainerRow: String] = [:]
        var previous: [ContainerRow: String] = [:]
        var started = ContinuousClock.now
    }

    private let generations = NIOLockedValueBox(Generations())

    /// The cached HTML of each row, nil where there is none; one lock for the whole page.
    func html(for rows: [ContainerRow]) -> [String?] {
        generations.withLockedValue { cache in
            rows.map { row in
                if let html = cache.current[row] { return html }
                guard let html = cache.previous.removeValue(forKey: row) else { return nil }
                cache.current[row] = html
                return html
            }
        }
    }

    func store(_ rendered: [ContainerRow: String]) {
        generations.withLockedValue { cache in
            let now = ContinuousClock.now
            let full = cache.current.count + rendered.count > Self.capacity
            if full || now - cache.started >= lifetime {
                // A full generation is not kept as the older one: that would double what `capacity` bounds.
                cache.previous = full ? [:] : cache.current
                cache.current = [:]
                cache.started = now
            }
            cache.current.merge(rendered) { $1 }
        }
    }

    /// Rows held now.
    var count: Int { generations.withLockedValue { $0.current.count + $0.previous.count } }
}
