import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The audit trail in the browser: search, pages, export. Admins see everyone's rows; everybody else sees their own
/// (the actor filter is forced on the server, whatever the query says).
struct AuditController: Sendable {
    let database: AppDatabase
    let engines: EngineAccess
    let audit: AuditTrail
    let views: PageRenderer

    static let pageSize = 50

    func addRoutes(to routes: Routes) {
        routes.get("/audit", .viewAudit, use: list)
        routes.get("/audit/export", .viewAudit, audit: .auditExport, use: export)
    }

    /// `GET /audit?actor=&action=&target=&outcome=&from=&to=&q=&before=`: newest first, one page.
    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let filters = AuditFilters(request.uri.queryParameters, user: user)
        var page = AuditListPage(
            filters: filters, isAdmin: user.role == .admin, preferences: context.preferences,
            engineNames: user.role == .admin ? engines.directory.all.map(\.name) : engines.roles.engines(of: user, in: engines.directory).map(\.engine.name)
        )
        if filters.errors.isEmpty {
            let result = try await database.auditEvents(matching: filters.query, limit: Self.pageSize)
            let live = await liveContainerIds(for: result.events)
            let others = Set(engines.directory.all.filter { !$0.isLocal }.map(\.name))
            page.rows = result.events.map { AuditRow($0, liveContainers: live, otherEngines: others, preferences: context.preferences) }
            page.nextLink = result.nextBefore.map { "/audit?" + filters.queryString(before: $0) }
        }
        return try views.page("audit", page, context: context, status: filters.errors.isEmpty ? .ok : .badRequest)
    }

    /// `GET /audit/export?format=csv|ndjson&…filters`: the whole filtered set, newest first, streamed in batches. The
    /// export is recorded before the first byte goes out; if it can't be, nothing is exported.
    @Sendable func export(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let filters = AuditFilters(request.uri.queryParameters, user: user)
        let formatName = request.uri.queryParameters["format"].map(String.init) ?? "csv"
        guard let format = AuditExportFormat(rawValue: formatName) else {
            throw HTTPError(.badRequest, message: "The export format must be csv or ndjson.")
        }
        guard filters.errors.isEmpty else {
            throw HTTPError(.badRequest, message: filters.errors.map(\.message).joined(separator: " "))
        }
        let query = filters.query
        let parameters = ["format": format.rawValue, "filters": query.parametersJSON()]
        try await audit.recordBeforeShowing(context: context, targetType: "audit", parameters: parameters)
        let stamp = AuditText.timestamp(Date()).filter { $0.isNumber || $0 == "T" }
        let headers: HTTPFields = [
            .contentType: format.contentType,
            .contentDisposition: "attachment; filename=\"berth-audit-\(stamp).\(format.rawValue == "csv" ? "csv" : "ndjson")\"",
            .cacheControl: "no-store",
        ]
        let database = self.database
        let logger = context.logger
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            if let header = format.header { try await writer.write(ByteBuffer(string: header)) }
            do {
                // One batch in memory at a time; the next is read only once this one is written.
                for try await batch in database.auditExport(matching: query) {
                    var buffer = ByteBuffer()
                    for event in batch { buffer.writeString(format.line(event)) }
                    try await writer.write(buffer)
                }
            } catch {
                logger.error("audit export stopped", metadata: ["error": "\(error)"])
                throw error
            }
            try await writer.finish(nil)
        })
    }

    /// The ids of the rows' container targets that still exist: one engine call for the page, none when no row
    /// names a container; an unreachable engine just means no links.
    func liveContainerIds(for events: [AuditEvent]) async -> Set<String> {
        guard events.contains(where: { $0.targetType == "container" && $0.targetId != nil }) else { return [] }
        guard let containers = try? await engines.directory.local.client.listContainers(all: true) else { return [] }
        return Set(containers.map(\.id))
    }
}
