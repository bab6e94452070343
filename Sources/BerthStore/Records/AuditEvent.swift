import Foundation
import GRDB

/// One row of the audit trail: who did what, when, from where, with what result.
public struct AuditEvent: Codable, Sendable, Equatable {
    public var id: Int64?
    public var time: Date
    public var requestId: String?
    public var actor: String
    public var role: String?
    public var clientAddress: String?
    public var userAgent: String?
    /// A verb such as `container.stop` or `login`.
    public var action: String
    public var targetType: String?
    public var targetId: String?
    public var targetName: String?
    public var engine: String?
    /// JSON, secrets already redacted.
    public var parameters: String?
    public var outcome: Outcome
    public var errorMessage: String?
    public var durationMs: Int?
    public var hash: String?

    public enum Outcome: String, Codable, Sendable {
        case ok, denied, error
    }

    public init(
        time: Date = Date(), requestId: String? = nil, actor: String, role: String? = nil, clientAddress: String? = nil,
        userAgent: String? = nil, action: String, targetType: String? = nil, targetId: String? = nil,
        targetName: String? = nil, engine: String? = nil, parameters: String? = nil, outcome: Outcome,
        errorMessage: String? = nil, durationMs: Int? = nil
    ) {
        self.time = time
        self.requestId = requestId
        self.actor = actor
        self.role = role
        self.clientAddress = clientAddress
        self.userAgent = userAgent
        self.action = action
        self.targetType = targetType
        self.targetId = targetId
        self.targetName = targetName
        self.engine = engine
        self.parameters = parameters
        self.outcome = outcome
        self.errorMessage = errorMessage
        self.durationMs = durationMs
    }
}

extension AuditEvent: FetchableRecord, MutablePersistableRecord {
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let time = Column(CodingKeys.time)
        public static let actor = Column(CodingKeys.actor)
        public static let action = Column(CodingKeys.action)
        public static let outcome = Column(CodingKeys.outcome)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

extension AppDatabase {
    /// Appends one audit record, chained to the one before it, and returns it with its id and hash. The write is
    /// committed (and synced: the writer runs with `synchronous=FULL`) before this returns. Audit rows are never
    /// updated or deleted by the app, but for retention's removal of old prefixes.
    @discardableResult
    public func recordAudit(_ event: AuditEvent) async throws -> AuditEvent {
        try await writer.write { db in
            var event = event
            try Self.append(&event, db)
            return event
        }
    }

    /// Inserts and seals a record inside the caller's transaction. The time is taken here, under the write lock, so
    /// that it never goes backwards along the ids (time-range searches rely on it).
    static func append(_ event: inout AuditEvent, _ db: Database) throws {
        let newest = try Date.fetchOne(db, sql: "SELECT time FROM auditEvent ORDER BY id DESC LIMIT 1")
        // Milliseconds, as stored: what is hashed is what is read back.
        let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
        event.time = max(now, newest ?? now)
        // The id the table's sequence hands out next (AUTOINCREMENT: past every id it ever gave), so that the hash,
        // which covers the id, is computed before the one insert: rows are never updated.
        let id = try Int64.fetchOne(db, sql: """
            SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'auditEvent'), 0),
                       coalesce((SELECT max(id) FROM auditEvent), 0)) + 1
            """) ?? 1
        event.id = id
        event.hash = nil
        let previous = try AuditChain.previousHash(db, before: id, pending: event)
        let hash = AuditChain.hash(previous: previous, row: Row(try event.databaseDictionary))
        event.hash = hash
        try event.insert(db)
        // What SQLite stored must be what was hashed (a type affinity could change a value): checked, never assumed.
        guard let stored = try Row.fetchOne(
            db, sql: "SELECT \(AuditChain.selectColumns) FROM auditEvent WHERE id = ?", arguments: [id]
        ), AuditChain.hash(previous: previous, row: stored) == hash else {
            throw DatabaseError(message: "audit row \(id) was stored differently from what was hashed")
        }
    }

    /// The newest audit records first, optionally those of one actor.
    public func recentAuditEvents(actor: String? = nil, limit: Int = 100) async throws -> [AuditEvent] {
        try await writer.read { db in
            var request = AuditEvent.order(AuditEvent.Columns.id.desc).limit(limit)
            if let actor { request = request.filter(AuditEvent.Columns.actor == actor) }
            return try request.fetchAll(db)
        }
    }
}
