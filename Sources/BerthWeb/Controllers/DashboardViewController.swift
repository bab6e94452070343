import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Watching a dashboard, the same pages for two audiences: signed-in teammates under `/dashboards/{id}` and link
/// viewers under `/shared/{id}` (after `/s/{token}` traded the link for a cookie). Both can reach only the dashboard,
/// its stream, and the containers of its selection; nothing here changes anything.
struct DashboardViewController: Sendable {
    let database: AppDatabase
    let access: DashboardAccess
    let updates: UpdateMarks
    let audit: AuditTrail
    let views: PageRenderer
    let streamer: EventStreamer
    let sessions: SessionManager
    let links: ShareLinks
    /// How long the page waits for each engine (`--engine-timeout`).
    let timeout: Duration
    var refreshInterval: Duration = .seconds(30)

    static let outsideSelection = "No such container on this dashboard."

    func addRoutes(to routes: Routes) {
        // A dashboard may span engines: its sharing, not a role on each engine, decides who watches it.
        let routes = routes.on(.none)
        routes.get("/s/{token}", .anyone, audit: .dashboardLinkUse, use: exchange)
        for (base, permission) in [("/dashboards/{id}", Permission.signedIn), ("/shared/{id}", Permission.watchSharedDashboard)] {
            routes.get(base, permission, audit: .dashboardView, use: page)
            routes.get("\(base)/stream", permission, audit: .dashboardStream, use: stream)
            routes.get("\(base)/containers/{container}", permission, audit: .dashboardContainer, use: containerPage)
            routes.get("\(base)/containers/{container}/stats/stream", permission, audit: .dashboardStats, use: containerStats)
            routes.get("\(base)/containers/{container}/logs", permission, audit: .dashboardLogs, use: containerLogsPage)
            routes.get("\(base)/containers/{container}/logs/stream", permission, audit: .dashboardLogs, use: containerLogs)
        }
    }

    // MARK: The link exchange

    /// `GET /s/{token}`: trades the link's token for a cookie scoped to the dashboard, and sends the browser on to a
    /// URL without the token (so it leaves the address bar, the history's latest entry and every `Referer`).
    @Sendable func exchange(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let token = context.parameters.get("token") ?? ""
        // A viewer whose admission can't be recorded is not admitted: its share session goes again.
        let result = try await audit.act(
            context: context, actor: "link", targetType: "dashboard",
            undo: { (admission: (cookieToken: String, link: DashboardLinkRecord)) in
                try? await database.deleteShareSession(tokenHash: Tokens.hash(admission.cookieToken))
                return "its outcome row could not be written, so the viewer was not admitted"
            }
        ) { record -> (cookieToken: String, link: DashboardLinkRecord) in
            switch try await links.exchange(token: token, clientAddress: context.client?.address) {
            case .unknown:
                record.deny("unknown link")
                throw HTTPError(.notFound, message: "This link opens nothing. Ask whoever sent it for a new one.")
            case .gone(let reason, let link):
                record.deny(reason)
                record.actor = "link #\(link.id ?? 0)"
                record.targetId = String(link.dashboardId)
                throw HTTPError(.gone, message: "\(reason) Ask whoever sent it for a new one.")
            case .admitted(let cookieToken, let link):
                var viewer = context
                viewer.shareViewer = ShareViewer(linkId: link.id ?? 0, dashboardId: link.dashboardId, sessionKey: Tokens.hash(cookieToken))
                record.origin = AuditOrigin(viewer)
                record.targetId = String(link.dashboardId)
                record.parameters = ["label": link.label]
                return (cookieToken: cookieToken, link: link)
            }
        }
        guard case .done(let admission, _) = result else {
            throw HTTPError(.serviceUnavailable, message: AuditTrail.unavailableMessage)
        }
        var response = Response(
            status: .seeOther,
            headers: [.location: ShareLinks.basePath(dashboardId: admission.link.dashboardId), .cacheControl: "no-store"]
        )
        response.setCookie(links.cookie(token: admission.cookieToken, dashboardId: admission.link.dashboardId))
        return response
    }

    // MARK: Pages

    @Sendable func page(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let (scope, record) = try await resolveScope(context)
        // Each engine's rows at once, each for at most the engine timeout; one that fails or is withheld is named and
        // the others' rows still show.
        let answers = await askEach(scope.engines, timeout: timeout) { source -> [DashboardContainerStatus] in
            guard let handle = source.handle else { return [] }
            return await DashboardScope.statuses(of: try await scope.containers(of: handle), on: source, handle: handle)
        }
        var rows: [DashboardContainerStatus] = []
        var problems: [String] = []
        for (source, answer) in zip(scope.engines, answers) {
            switch answer {
            case .success(let part) where source.handle != nil: rows += part
            case .success: problems.append(source.problem(nil))
            case .failure(let error): problems.append(source.problem(error))
            case nil: problems.append(source.problem(nil))
            }
        }
        let viaLink = context.shareViewer != nil
        let page = DashboardPage(
            title: scope.title, details: scope.details, selection: scope.selection.summary, basePath: scope.basePath,
            engines: scope.engines.map(\.name).joined(separator: ","),
            engineNames: scope.engines.count > 1 ? scope.engines.map(\.name).joined(separator: ", ") : nil,
            showStatus: scope.showStatus, showStats: scope.showStats, showEvents: scope.showEvents, showLogs: scope.showLogs,
            rows: rows, hasRows: !rows.isEmpty, engineProblems: problems, viaLink: viaLink,
            canEdit: context.user.map { access.canEdit(record, $0) } ?? false,
            editPath: "/dashboards/\(scope.id)/edit", sharePath: "/dashboards/\(scope.id)/share", redacted: !scope.redactor.isEmpty
        )
        // 503 only when no engine answered: a dashboard with one engine down still shows the others.
        let status: HTTPResponse.Status = !problems.isEmpty && problems.count == scope.engines.count ? .serviceUnavailable : .ok
        return try views.page("dashboard", page, context: context, status: status)
    }

    @Sendable func containerPage(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let (scope, _) = try await resolveScope(context)
        let (source, summary) = try await selectedContainer(scope, request: request, context: context)
        let inspect = try? await source.handle?.client.inspectContainer(summary.id)
        let row = DashboardContainerStatus(summary, inspect: inspect, on: source)
        let page = DashboardContainerPage(
            title: row.name, dashboardTitle: scope.title, basePath: scope.basePath, row: row, status: summary.status ?? "",
            engineName: source.query.isEmpty ? nil : source.name,
            started: DisplayTime(engineTime: row.startedAt, preferences: context.preferences),
            showStats: scope.showStats, showLogs: scope.showLogs, viaLink: context.shareViewer != nil
        )
        return try views.page("dashboard-container", page, context: context)
    }

    @Sendable func containerLogsPage(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let (scope, _) = try await resolveScope(context)
        let (source, summary) = try await selectedContainer(scope, request: request, context: context, needsLogs: true)
        let container = LogsPage.Container(id: summary.id, name: summary.name)
        var page = LogsPage(
            title: "Logs of \(summary.name)", containers: [container], tail: 100, single: nil, preferences: context.preferences
        )
        page.streamPath = "\(scope.basePath)/containers/\(container.shortID)/logs/stream"
        page.streamQuery = source.query.isEmpty ? "tail=100" : "tail=100&" + source.query.dropFirst()
        page.dashboard = .init(
            title: scope.title, path: scope.basePath, container: container.shortID, engineQuery: source.query, redacted: !scope.redactor.isEmpty
        )
        return try views.page("logs", page, context: context)
    }

    // MARK: Streams

    /// The dashboard's one stream: status table, events, stats and (when shown) logs of its selection.
    @Sendable func stream(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let (scope, record) = try await resolveScope(context)
        try await auditStream(scope: scope, context: context, parameters: ["logs": scope.showLogs ? "1" : "0"])
        let access = self.access
        let updates = self.updates
        let detailed = context.shareViewer == nil
        let feed = DashboardFeed(
            scope: scope, lookUp: { name in Self.engine(name, of: record, access: access, updates: updates, detailed: detailed) },
            refreshInterval: refreshInterval
        )
        let renderer = DashboardStreamRenderer()
        return streamer.response(
            for: owner(context, scope: scope), on: context.channel, weight: DashboardMessage.weight, render: renderer.render,
            prelude: { [ServerSentEvent(event: "hello", encoding: ["dashboard": scope.id])] },
            produce: { mailbox in await feed.run(into: mailbox) }
        )
    }

    @Sendable func containerStats(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let (scope, _) = try await resolveScope(context)
        guard scope.showStats else { throw HTTPError(.notFound, message: "This dashboard shows no stats.") }
        let (source, summary) = try await selectedContainer(scope, request: request, context: context)
        guard let broadcaster = source.handle?.stats else { throw HTTPError(.serviceUnavailable, message: source.problem(nil)) }
        let topic = summary.id
        return streamer.response(
            for: owner(context, scope: scope), on: context.channel, capacity: 16, render: StatsController.render,
            attach: { mailbox in
                broadcaster.subscribe(mailbox, to: topic)
                return { broadcaster.unsubscribe(mailbox, from: topic) }
            }
        )
    }

    @Sendable func containerLogs(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let (scope, _) = try await resolveScope(context)
        let (source, summary) = try await selectedContainer(scope, request: request, context: context, needsLogs: true)
        guard let handle = source.handle else { throw HTTPError(.serviceUnavailable, message: source.problem(nil)) }
        let inspect: ContainerInspect
        do {
            inspect = try await handle.client.inspectContainer(summary.id)
        } catch let error as EngineError {
            throw error.pageError(missing: Self.outsideSelection)
        }
        try await auditStream(
            scope: scope, context: context, container: (source, summary), parameters: ["redacted": scope.redactor.isEmpty ? "0" : "1"]
        )
        let tail = request.uri.queryParameters["tail"].flatMap { Int($0) }.map { min(max($0, 0), LogsController.maxTail) } ?? 100
        let cursor = LogCursor(lastEventID: request.lastEventID)
        let redactor = scope.redactor
        let prepared = LogFollower(
            engine: handle.client, tails: handle.tails, container: inspect.id, tty: inspect.config?.tty ?? false, tail: tail,
            resumeAfter: cursor.position(of: inspect.id), running: inspect.state?.running ?? false
        )
        let renderer = LogStreamRenderer(cursor: cursor, containers: 1)
        let unavailable = inspect.hostConfig?.logConfig?.type == "none"
        return streamer.response(for: owner(context, scope: scope), on: context.channel, weight: LogStreamMessage.weight, gather: LogStreamRenderer.gather, render: renderer.render, produce: { mailbox in
            if unavailable {
                _ = await mailbox.send(.ended(container: inspect.id, reason: "This container logs with the driver \"none\": the engine keeps no logs for it."))
                _ = await mailbox.send(.finished)
                return
            }
            let follower = prepared.sending(into: mailbox) { message in
                if case .lines(let container, let lines) = message {
                    return await mailbox.send(.lines(container: container, await redactor.redact(lines)), merge: LogStreamMessage.merge)
                }
                return await mailbox.send(message)
            }
            await follower.run()
            _ = await mailbox.send(.finished)
        })
    }

    // MARK: Scope

    /// The dashboard of the route's `{id}` as this request may see it; 404 (audited) for anything else.
    private func resolveScope(_ context: BerthRequestContext) async throws -> (DashboardScope, DashboardRecord) {
        let id = context.parameters.get("id").flatMap(Int64.init)
        var record: DashboardRecord?
        if let id { record = try await database.dashboard(id: id) }
        let allowed: Bool
        let basePath: String
        if let viewer = context.shareViewer {
            allowed = record != nil && viewer.dashboardId == id
            basePath = ShareLinks.basePath(dashboardId: id ?? 0)
        } else if let user = context.user {
            allowed = record.map { access.canView($0, user) } ?? false
            basePath = "/dashboards/\(id ?? 0)"
        } else {
            allowed = false
            basePath = ""
        }
        guard allowed, let record, let id else {
            await audit.record(outcome: .denied, context: context, targetType: "dashboard", targetId: id.map(String.init), error: "no such dashboard for this viewer")
            throw HTTPError(.notFound, message: "No such dashboard.")
        }
        // Each request of a link viewer is a use of the link: recorded, or refused when it can't be.
        if context.shareViewer != nil, context.auditAction == .dashboardView || context.auditAction == .dashboardContainer {
            try await audit.recordBeforeShowing(context: context, targetType: "dashboard", targetId: String(id), targetName: record.title)
        }
        let detailed = context.shareViewer == nil
        let scope = DashboardScope(
            id: id, title: record.title, details: record.details,
            selection: DashboardSelection(record),
            engines: record.engines.map { Self.engine($0, of: record, access: access, updates: updates, detailed: detailed) },
            showStatus: record.showStatus, showStats: record.showStats, showEvents: record.showEvents, showLogs: record.showLogs,
            redactor: LogRedactor(patterns: record.redactions), basePath: basePath
        )
        return (scope, record)
    }

    /// The dashboard's engine of this name as it stands now: withheld when Berth knows no such engine any more, or
    /// when the dashboard's owner no longer operates it.
    static func engine(
        _ name: String, of record: DashboardRecord, access: DashboardAccess, updates: UpdateMarks, detailed: Bool
    ) -> DashboardEngine {
        let handle = access.engines.directory.named(name)
        var withheld: String?
        if let handle, case .withheld(let reason) = access.owner(of: record, on: handle) { withheld = reason }
        return DashboardEngine(
            name: name, handle: handle, withheld: withheld, updates: updates, spansSeveral: record.engines.count > 1, detailed: detailed
        )
    }

    /// The container of the route's `{container}` (on the engine `?engine=` names, if any), only if it is in the
    /// selection now (by full id, id prefix or name); anything else is 404 and audited, with the same words whether
    /// or not such a container (or engine) exists.
    private func selectedContainer(
        _ scope: DashboardScope, request: Request, context: BerthRequestContext, needsLogs: Bool = false
    ) async throws -> (DashboardEngine, ContainerSummary) {
        let reference = context.parameters.get("container") ?? ""
        let engine = request.uri.queryParameters["engine"].map { String($0) }
        let found: (DashboardEngine, ContainerSummary)?
        do {
            found = try await scope.resolve(reference, engine: engine)
        } catch let error as EngineError {
            // An engine's error names its address: a link viewer is not told it.
            throw HTTPError(.serviceUnavailable, message: context.shareViewer == nil ? error.description : "The engine can't be reached.")
        }
        guard let found, !needsLogs || scope.showLogs else {
            var parameters = ["container": String(reference.prefix(128))]
            if let engine { parameters["engine"] = String(engine.prefix(64)) }
            await audit.record(
                outcome: .denied, context: context, targetType: "dashboard", targetId: String(scope.id),
                parameters: parameters,
                error: needsLogs && !scope.showLogs ? "this dashboard shows no logs" : "container outside the selection"
            )
            throw HTTPError(.notFound, message: Self.outsideSelection)
        }
        return found
    }

    /// Streams are audited when opened (metadata only), and refused when their record can't be written.
    private func auditStream(
        scope: DashboardScope, context: BerthRequestContext, container: (DashboardEngine, ContainerSummary)? = nil,
        parameters: [String: String]
    ) async throws {
        var parameters = parameters
        if let (source, summary) = container {
            parameters["container"] = summary.name
            parameters["engine"] = source.name
        }
        try await audit.recordBeforeShowing(
            context: context, targetType: "dashboard", targetId: String(scope.id), targetName: scope.title,
            parameters: parameters
        )
    }

    /// A teammate's stream ends with their session or when the dashboard stops being theirs to see; a link
    /// viewer's when the link is revoked or expires (revoking also closes it at once, by its key).
    private func owner(_ context: BerthRequestContext, scope: DashboardScope) -> StreamOwner {
        let database = self.database
        let access = self.access
        if let viewer = context.shareViewer {
            let links = self.links
            return StreamOwner(key: viewer.streamKey, isLink: true) {
                if let reason = await links.endedReason(viewer) { return reason }
                return (try? await database.dashboard(id: scope.id)) == nil ? "This dashboard was removed." : nil
            }
        }
        guard let user = context.user else { return StreamOwner(key: "signed-out") { "Sign in first." } }
        let sessions = self.sessions
        return StreamOwner(key: user.sessionKey) {
            if let reason = await sessions.endedReason(sessionKey: user.sessionKey) { return reason }
            guard let record = try? await database.dashboard(id: scope.id) else { return "This dashboard was removed." }
            return access.canView(record, user) ? nil : "This dashboard is no longer shared with you."
        }
    }
}
