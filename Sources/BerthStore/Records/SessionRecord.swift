import Foundation
import GRDB

/// A signed-in browser. The cookie holds a random token; only its SHA-256 (`tokenHash`) is stored.
public struct SessionRecord: Codable, Sendable, Equatable {
    public var tokenHash: String
    public var username: String
    /// The role resolved from the user's unix groups at sign-in (or at the last account re-check).
    public var role: String
    /// Powers granted beside the role by a group of their own (`console`), comma-separated; resolved with the role.
    public var grants: String
    public var csrfToken: String
    public var clientAddress: String?
    public var userAgent: String?
    public var createdAt: Date
    public var lastSeenAt: Date
    /// The absolute end of the session, however active it is.
    public var expiresAt: Date
    /// When the account (lock, expiry, groups) was last checked.
    public var accountCheckedAt: Date

    public init(
        tokenHash: String, username: String, role: String, grants: String = "", csrfToken: String, clientAddress: String?,
        userAgent: String?, createdAt: Date, expiresAt: Date
    ) {
        self.tokenHash = tokenHash
        self.username = username
        self.role = role
        self.grants = grants
        self.csrfToken = csrfToken
        self.clientAddress = clientAddress
        self.userAgent = userAgent
        self.createdAt = createdAt
        self.lastSeenAt = createdAt
        self.expiresAt = expiresAt
        self.accountCheckedAt = createdAt
    }
}

extension SessionRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "session"

    public enum Columns {
        public static let tokenHash = Column(CodingKeys.tokenHash)
        public static let username = Column(CodingKeys.username)
        public static let expiresAt = Column(CodingKeys.expiresAt)
        public static let lastSeenAt = Column(CodingKeys.lastSeenAt)
    }
}

extension AppDatabase {
    public func createSession(_ session: SessionRecord) async throws {
        try await writer.write { db in try session.insert(db) }
    }

    public func session(tokenHash: String) async throws -> SessionRecord? {
        // Every request and every open stream's heartbeat asks this: a statement compiled once per connection, not
        // the query interface's SQL built and authorized anew each time (a fifth of an idle Berth's CPU with many
        // streams open).
        try await writer.read { db in
            try SessionRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM session WHERE tokenHash = ?"), arguments: [tokenHash])
        }
    }

    /// Records activity (when `lastSeenAt` is given) and, when given, a fresh account check, role and grants.
    public func touchSession(
        tokenHash: String, lastSeenAt: Date?, accountCheckedAt: Date? = nil, role: String? = nil, grants: String? = nil
    ) async throws {
        try await writer.write { db in
            guard var session = try SessionRecord.fetchOne(db, key: tokenHash) else { return }
            if let lastSeenAt { session.lastSeenAt = lastSeenAt }
            if let accountCheckedAt { session.accountCheckedAt = accountCheckedAt }
            if let role { session.role = role }
            if let grants { session.grants = grants }
            try session.update(db)
        }
    }

    /// Ends one session (logout, timeout, account locked).
    public func deleteSession(tokenHash: String) async throws {
        _ = try await writer.write { db in try SessionRecord.deleteOne(db, key: tokenHash) }
    }

    /// Removes sessions past their absolute end or idle for longer than `idleTimeout`; returns how many.
    @discardableResult
    public func deleteExpiredSessions(now: Date, idleTimeout: TimeInterval) async throws -> Int {
        try await writer.write { db in
            try SessionRecord
                .filter(SessionRecord.Columns.expiresAt <= now || SessionRecord.Columns.lastSeenAt <= now.addingTimeInterval(-idleTimeout))
                .deleteAll(db)
        }
    }
}
