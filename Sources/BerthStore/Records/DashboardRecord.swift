import Foundation
import GRDB

/// A saved, named view of some containers that teammates can watch live but never change.
///
/// The selection is stored as given (names, a pattern, label selectors or a compose project) and evaluated against
/// the engine each time the dashboard is shown, so a container recreated under the same name stays on it.
public struct DashboardRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    /// The unix user who made it; admins and the owner may change it.
    public var owner: String
    public var title: String
    public var details: String
    /// `names`, `pattern`, `labels` or `compose`.
    public var selectionKind: String
    /// Names, one pattern, `key=value`/`key` selectors, or one compose project name (stored as JSON text).
    public var selectionValues: [String]
    /// The engines whose containers the selection picks from, by name, in the order the dashboard shows them.
    public var engines: [String]
    public var showStatus: Bool
    public var showStats: Bool
    public var showEvents: Bool
    public var showLogs: Bool
    /// Regular expressions whose matches are masked in log lines before they leave the server.
    public var redactions: [String]
    /// Every signed-in user may watch it.
    public var sharedWithAll: Bool
    public var sharedGroups: [String]
    public var sharedUsers: [String]
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: Int64? = nil, owner: String, title: String, details: String = "", selectionKind: String, selectionValues: [String],
        engines: [String] = ["local"], showStatus: Bool = true, showStats: Bool = true, showEvents: Bool = true, showLogs: Bool = false,
        redactions: [String] = [], sharedWithAll: Bool = false, sharedGroups: [String] = [], sharedUsers: [String] = [],
        createdAt: Date = Date(), updatedAt: Date = Date()
    ) {
        self.id = id
        self.owner = owner
        self.title = title
        self.details = details
        self.selectionKind = selectionKind
        self.selectionValues = selectionValues
        self.engines = engines
        self.showStatus = showStatus
        self.showStats = showStats
        self.showEvents = showEvents
        self.showLogs = showLogs
        self.redactions = redactions
        self.sharedWithAll = sharedWithAll
        self.sharedGroups = sharedGroups
        self.sharedUsers = sharedUsers
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension DashboardRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "dashboard"

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let title = Column(CodingKeys.title)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// A link that opens one dashboard without an account (a wall screen). Only the SHA-256 of its token is stored.
public struct DashboardLinkRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var dashboardId: Int64
    public var tokenHash: String
    public var label: String
    public var createdBy: String
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?
    public var revokedBy: String?
    public var lastUsedAt: Date?
    public var useCount: Int

    public init(dashboardId: Int64, tokenHash: String, label: String, createdBy: String, createdAt: Date, expiresAt: Date) {
        self.dashboardId = dashboardId
        self.tokenHash = tokenHash
        self.label = label
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.useCount = 0
    }

    /// Why the link no longer opens its dashboard, or nil while it does.
    public func unusableReason(at now: Date) -> String? {
        if revokedAt != nil { return "This link was revoked." }
        if expiresAt <= now { return "This link expired." }
        return nil
    }
}

extension DashboardLinkRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "dashboardLink"

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let dashboardId = Column(CodingKeys.dashboardId)
        public static let tokenHash = Column(CodingKeys.tokenHash)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// The short-lived cookie a link is exchanged for: it opens that one dashboard only, never a general session.
public struct ShareSessionRecord: Codable, Sendable, Equatable {
    public var tokenHash: String
    public var linkId: Int64
    public var dashboardId: Int64
    public var createdAt: Date
    public var lastSeenAt: Date
    /// Never later than the link's own expiry.
    public var expiresAt: Date

    public init(tokenHash: String, linkId: Int64, dashboardId: Int64, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.linkId = linkId
        self.dashboardId = dashboardId
        self.createdAt = createdAt
        self.lastSeenAt = createdAt
        self.expiresAt = expiresAt
    }
}

extension ShareSessionRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "shareSession"

    public enum Columns {
        public static let tokenHash = Column(CodingKeys.tokenHash)
        public static let linkId = Column(CodingKeys.linkId)
    }
}

extension AppDatabase {
    public func createDashboard(_ dashboard: DashboardRecord) async throws -> DashboardRecord {
        try await writer.write { db in
            var dashboard = dashboard
            try dashboard.insert(db)
            return dashboard
        }
    }

    public func updateDashboard(_ dashboard: DashboardRecord) async throws {
        try await writer.write { db in try dashboard.update(db) }
    }

    /// Removes a dashboard with its links and their cookies.
    public func deleteDashboard(id: Int64) async throws {
        _ = try await writer.write { db in try DashboardRecord.deleteOne(db, key: id) }
    }

    public func dashboard(id: Int64) async throws -> DashboardRecord? {
        try await writer.read { db in try DashboardRecord.fetchOne(db, key: id) }
    }

    /// Every dashboard, by title; the web app decides who may see which.
    public func allDashboards() async throws -> [DashboardRecord] {
        try await writer.read { db in try DashboardRecord.order(DashboardRecord.Columns.title.collating(.localizedCaseInsensitiveCompare)).fetchAll(db) }
    }

    public func createDashboardLink(_ link: DashboardLinkRecord) async throws -> DashboardLinkRecord {
        try await writer.write { db in
            var link = link
            try link.insert(db)
            return link
        }
    }

    public func dashboardLinks(dashboardId: Int64) async throws -> [DashboardLinkRecord] {
        try await writer.read { db in
            try DashboardLinkRecord.filter(DashboardLinkRecord.Columns.dashboardId == dashboardId)
                .order(DashboardLinkRecord.Columns.id.desc).fetchAll(db)
        }
    }

    public func dashboardLink(id: Int64) async throws -> DashboardLinkRecord? {
        try await writer.read { db in try DashboardLinkRecord.fetchOne(db, key: id) }
    }

    public func dashboardLink(tokenHash: String) async throws -> DashboardLinkRecord? {
        try await writer.read { db in try DashboardLinkRecord.filter(DashboardLinkRecord.Columns.tokenHash == tokenHash).fetchOne(db) }
    }

    /// Revokes a link: from now on neither it nor the cookies it was exchanged for open anything; false when it was
    /// revoked already.
    public func revokeDashboardLink(id: Int64, by username: String, at now: Date) async throws -> Bool {
        try await writer.write { db in
            guard var link = try DashboardLinkRecord.fetchOne(db, key: id), link.revokedAt == nil else { return false }
            link.revokedAt = now
            link.revokedBy = username
            try link.update(db)
            // The link's cookies stay, so that a page opened through it is told "revoked" rather than "unknown".
            return true
        }
    }

    /// Exchanges a link for a cookie session: counts the use, and stores the session, in one transaction.
    public func useDashboardLink(id: Int64, session: ShareSessionRecord, at now: Date) async throws {
        try await writer.write { db in
            guard var link = try DashboardLinkRecord.fetchOne(db, key: id) else { return }
            link.useCount += 1
            link.lastUsedAt = now
            try link.update(db)
            try session.insert(db)
        }
    }

    /// A share cookie's session with its link, or nil when either is gone.
    public func shareSession(tokenHash: String) async throws -> (ShareSessionRecord, DashboardLinkRecord)? {
        try await writer.read { db in
            guard let session = try ShareSessionRecord.fetchOne(db, key: tokenHash),
                  let link = try DashboardLinkRecord.fetchOne(db, key: session.linkId)
            else { return nil }
            return (session, link)
        }
    }

    public func touchShareSession(tokenHash: String, at now: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE shareSession SET lastSeenAt = ? WHERE tokenHash = ?", arguments: [now, tokenHash])
        }
    }

    public func deleteShareSession(tokenHash: String) async throws {
        _ = try await writer.write { db in try ShareSessionRecord.deleteOne(db, key: tokenHash) }
    }
}
