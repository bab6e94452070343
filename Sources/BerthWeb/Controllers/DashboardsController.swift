import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Making, changing and sharing dashboards: the list, the editor with its live preview, share links.
struct DashboardsController: Sendable {
    let database: AppDatabase
    let access: DashboardAccess
    /// How long the preview waits for each engine (`--engine-timeout`).
    let timeout: Duration
    let audit: AuditTrail
    let views: PageRenderer
    let links: ShareLinks
    let streams: StreamRegistry

    func addRoutes(to routes: Routes) {
        // A dashboard may span engines: the global role makes and shares dashboards, the role on each engine decides
        // which engines' containers one may put on them.
        let routes = routes.on(.none)
        routes.get("/dashboards", .signedIn, use: list)
        // Before the dashboard pages: these are not dashboards named "new" or "preview".
        routes.get("/dashboards/new", .operateContainers, use: newForm)
        routes.get("/dashboards/preview", .operateContainers, use: preview)
        routes.post("/dashboards", .operateContainers, audit: .dashboardCreate, use: create)
        routes.get("/dashboards/{id}/edit", .operateContainers, use: editForm)
        routes.post("/dashboards/{id}", .operateContainers, audit: .dashboardUpdate, use: update)
        routes.post("/dashboards/{id}/delete", .operateContainers, audit: .dashboardDelete, use: delete)
        routes.get("/dashboards/{id}/share", .operateContainers, use: sharePage)
        routes.post("/dashboards/{id}/links", .operateContainers, audit: .dashboardLinkCreate, use: createLink)
        routes.post("/dashboards/{id}/links/{link}/revoke", .operateContainers, audit: .dashboardLinkRevoke, use: revokeLink)
    }

    // MARK: Pages

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let all = try await database.allDashboards()
        let visible = all.filter { access.canView($0, user) }
        let page = DashboardListPage(
            mine: visible.filter { $0.owner == user.username }.map { DashboardListPage.Item($0, canEdit: access.canEdit($0, user)) },
            shared: visible.filter { $0.owner != user.username }.map { DashboardListPage.Item($0, canEdit: access.canEdit($0, user)) },
            canCreate: user.role >= .operator
        )
        return try views.page("dashboards", page, context: context)
    }

    @Sendable func newForm(_ request: Request, context: SignedInContext) async throws -> Response {
        try await editor(DashboardForm(), id: nil, problems: [], context: context)
    }

    @Sendable func editForm(_ request: Request, context: SignedInContext) async throws -> Response {
        let (dashboard, _) = try await editable(context)
        return try await editor(DashboardForm(dashboard), id: dashboard.id, problems: [], context: context)
    }

    /// `GET /dashboards/preview?kind=labels&selection=…&engine=…`: which containers the selection matches now on
    /// the engines named (JSON, for the editor's live preview). Only engines the user may choose are asked.
    @Sendable func preview(_ request: Request, context: SignedInContext) async throws -> Response {
        let query = request.uri.queryParameters
        let kind = DashboardSelection.Kind(rawValue: String(query["kind"] ?? "")) ?? .labels
        var form = DashboardForm()
        form.kind = kind
        form.values = DashboardForm.selectionValues(kind: kind, text: String(query["selection"] ?? ""))
        let named = query.getAll("engine").map { String($0) }
        // As the form: no engine fields at all (a Berth of one engine) means local; the fields with none ticked, none.
        form.engines = named.isEmpty && query["engines"] == nil ? [EngineDefinition.localName] : named
        let problems = form.selectionProblems + engineProblems(form, user: context.user)
        var result = PreviewResult(summary: form.selection.summary, problems: problems, matches: [], engineProblem: nil)
        if result.problems.isEmpty {
            let selection = form.selection
            let handles = form.engines.compactMap { access.engines.directory.named($0) }
            let answers = await askEach(handles, timeout: timeout) { handle in
                try await selection.containers(on: handle.client)
            }
            var failures: [String] = []
            for (handle, answer) in zip(handles, answers) {
                let engine = handles.count > 1 ? "\(handle.name): " : ""
                switch answer {
                case .success(let containers):
                    result.matches += containers.map {
                        PreviewResult.Match(name: $0.name, state: $0.state ?? "", image: $0.image ?? "", engine: handle.name)
                    }
                case .failure(let error):
                    failures.append(engine + "\(error)")
                case nil:
                    failures.append(engine + "no answer within \(timeout.components.seconds) s")
                }
            }
            if !failures.isEmpty { result.engineProblem = failures.joined(separator: "; ") }
        }
        let data = try JSONEncoder().encode(result)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    @Sendable func sharePage(_ request: Request, context: SignedInContext) async throws -> Response {
        let (dashboard, _) = try await editable(context)
        return try await shares(dashboard, newLink: nil, context: context)
    }

    // MARK: Actions

    @Sendable func create(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let form = DashboardForm(context.form)
        let problems = form.problems + engineProblems(form, user: user)
        let result = try await audit.act(
            context: context, targetType: "dashboard", targetName: form.title, parameters: form.auditParameters
        ) { record -> AuditTrail.Ending<DashboardRecord> in
            guard problems.isEmpty else {
                record.fail(problems.joined(separator: " "))
                return .answered(try await editor(form, id: nil, problems: problems, context: context, status: .unprocessableContent))
            }
            do {
                let saved = try await database.createDashboard(form.record(owner: user.username))
                record.targetId = String(saved.id ?? 0)
                record.targetName = saved.title
                return .succeeded(saved)
            } catch {
                record.fail("\(error)")
                return .answered(.redirect(to: "/dashboards", flash: Flash(.error, "The dashboard could not be saved: \(error)")))
            }
        }
        switch result {
        case .refused:
            return .redirect(to: "/dashboards", flash: Flash(.error, AuditTrail.unavailableMessage))
        case .done(.answered(let response), _):
            return response
        case .done(.succeeded(let saved), let recorded):
            let message = "The dashboard \(saved.title) was saved."
            return .redirect(to: "/dashboards/\(saved.id ?? 0)", flash: AuditTrail.flash(.done(message, recorded: recorded)))
        }
    }

    @Sendable func update(_ request: Request, context: SignedInContext) async throws -> Response {
        let (dashboard, user) = try await editable(context)
        let id = dashboard.id ?? 0
        let form = DashboardForm(context.form)
        let problems = form.problems + engineProblems(form, user: user)
        guard problems.isEmpty else {
            // The editor again, with the problems named; the attempt is recorded as failed.
            return try await audit.refuseInput(
                context: context, targetType: "dashboard", targetId: String(id), targetName: dashboard.title,
                parameters: form.auditParameters, message: problems.joined(separator: " ")
            ) {
                try await editor(form, id: id, problems: problems, context: context, status: .unprocessableContent)
            }
        }
        return await audit.perform(
            context: context, targetType: "dashboard", targetId: String(id), targetName: form.title,
            parameters: form.auditParameters, back: "/dashboards/\(id)"
        ) {
            try await database.updateDashboard(form.record(owner: user.username, existing: dashboard))
            return "The dashboard \(form.title) was saved."
        }
    }

    @Sendable func delete(_ request: Request, context: SignedInContext) async throws -> Response {
        let (dashboard, _) = try await editable(context)
        let id = dashboard.id ?? 0
        return await audit.perform(
            context: context, targetType: "dashboard", targetId: String(id), targetName: dashboard.title,
            back: "/dashboards"
        ) {
            let links = try await database.dashboardLinks(dashboardId: id)
            try await database.deleteDashboard(id: id)
            for link in links {
                if let linkId = link.id { streams.closeAll(sessionKey: ShareLinks.streamKey(linkId: linkId), reason: "This dashboard was removed.") }
            }
            return "The dashboard \(dashboard.title) was removed, with its \(links.count) share link(s)."
        }
    }

    @Sendable func createLink(_ request: Request, context: SignedInContext) async throws -> Response {
        let (dashboard, user) = try await editable(context)
        let id = dashboard.id ?? 0
        let fields = context.form
        let label = (fields["label"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let lifetime = TimeInterval(fields["expiresIn"] ?? "") ?? 0
        let parameters = ["label": label, "expiresIn": fields["expiresIn"] ?? ""]
        let back = "/dashboards/\(id)/share"
        guard lifetime >= 1, lifetime <= links.maxLifetime else {
            return await audit.refuseInput(
                context: context, targetType: "dashboard", targetName: dashboard.title, parameters: parameters,
                message: "Choose when the link expires: at most \(Int(links.maxLifetime / 86400)) days from now.", back: back
            )
        }
        guard label.count <= 100, !label.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return await audit.refuseInput(
                context: context, targetType: "dashboard", targetName: dashboard.title, parameters: parameters,
                message: "The label must be at most 100 plain characters.", back: back
            )
        }
        // No record, no link: one whose row can't be written is revoked before anyone saw it.
        let result = try await audit.act(
            context: context, targetType: "dashboard", targetId: String(id), targetName: dashboard.title, parameters: parameters,
            undo: { (created: (link: DashboardLinkRecord, token: String)) in
                _ = try? await database.revokeDashboardLink(id: created.link.id ?? 0, by: user.username, at: Date())
                return "its outcome row could not be written, so the link was revoked at once"
            }
        ) { record in
            let (link, token) = try await links.create(dashboardId: id, label: label, lifetime: lifetime, by: user.username)
            record.add(["link": String(link.id ?? 0), "expiresAt": ISO8601DateFormatter().string(from: link.expiresAt)])
            return (link: link, token: token)
        }
        guard case .done(let created, _) = result else {
            return .redirect(to: back, flash: Flash(.error, AuditTrail.unavailableMessage))
        }
        let scheme = (context.base.client?.isSecure ?? false) || links.secureCookies ? "https" : "http"
        let url = "\(scheme)://\(request.head.authority ?? "localhost")/s/\(created.token)"
        return try await shares(dashboard, newLink: url, context: context, status: .created)
    }

    @Sendable func revokeLink(_ request: Request, context: SignedInContext) async throws -> Response {
        let (dashboard, user) = try await editable(context)
        let id = dashboard.id ?? 0
        let back = "/dashboards/\(id)/share"
        guard let linkId = context.parameters.get("link").flatMap(Int64.init),
              let link = try await database.dashboardLink(id: linkId), link.dashboardId == id
        else {
            throw HTTPError(.notFound, message: "No such link on this dashboard.")
        }
        return await audit.perform(
            context: context, targetType: "dashboard", targetId: String(id), targetName: dashboard.title,
            parameters: ["link": String(linkId), "label": link.label], back: back
        ) {
            guard try await database.revokeDashboardLink(id: linkId, by: user.username, at: Date()) else {
                return "The link was revoked already."
            }
            // Wall screens watching through it stop now, not at their next heartbeat.
            streams.closeAll(sessionKey: ShareLinks.streamKey(linkId: linkId), reason: "This link was revoked.")
            return "The link\(link.label.isEmpty ? "" : " \(link.label)") was revoked; it opens nothing any more."
        }
    }

    // MARK: Helpers

    /// The dashboard of the route's `{id}`, if this user may change it: 404 when they may not even see it, 403 (and
    /// audited) when they may see but not change it.
    private func editable(_ context: SignedInContext) async throws -> (DashboardRecord, SignedInUser) {
        let user = context.user
        guard let id = context.parameters.get("id").flatMap(Int64.init), let dashboard = try await database.dashboard(id: id),
              access.canView(dashboard, user)
        else {
            throw HTTPError(.notFound, message: "No such dashboard.")
        }
        guard access.canEdit(dashboard, user) else {
            await audit.record(
                context.base.auditAction ?? .dashboardEdit, outcome: .denied, context: context, targetType: "dashboard", targetId: String(id),
                targetName: dashboard.title, error: "only the owner and admins change a dashboard"
            )
            throw HTTPError(.forbidden, message: "Only its owner (\(dashboard.owner)) and admins change this dashboard.")
        }
        return (dashboard, user)
    }

    private func engineProblems(_ form: DashboardForm, user: SignedInUser) -> [String] {
        let (operated, visible) = access.choosable(by: user)
        return form.engineProblems(allowed: operated, visible: visible)
    }

    private func editor(
        _ form: DashboardForm, id: Int64?, problems: [String], context: SignedInContext, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let page = DashboardEditPage(form: form, id: id, problems: problems, selectable: access.choosable(by: context.user).operated)
        return try views.page("dashboard-edit", page, context: context, status: status)
    }

    private func shares(
        _ dashboard: DashboardRecord, newLink: String?, context: SignedInContext, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let records = try await database.dashboardLinks(dashboardId: dashboard.id ?? 0)
        let page = DashboardSharePage(
            dashboard: dashboard, links: records, newLink: newLink, maxLifetime: links.maxLifetime,
            preferences: context.preferences, now: Date()
        )
        return try views.page("dashboard-share", page, context: context, status: status)
    }
}
