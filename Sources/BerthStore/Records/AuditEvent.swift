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
        let newest = try Int64.fetchOne(db, sql: "SELECT time FROM auditRow WHERE typeof(time) = 'integer' ORDER BY id DESC LIMIT 1")
        // Milliseconds, as stored: what is hashed is what is read back.
        let now = AuditStorage.milliseconds(Date())
        let milliseconds = max(now, newest ?? now)
        event.time = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        // The id the table's sequence hands out next (AUTOINCREMENT: past every id it ever gave), so that the hash,
        // which covers the id, is computed before the one insert: rows are never updated.
        let id = try Int64.fetchOne(db, sql: """
            SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'auditRow'), 0),
                       coalesce((SELECT max(id) FROM auditRow), 0)) + 1
            """) ?? 1
        event.id = id
        event.hash = nil
        let previous = try AuditChain.previousHash(db, before: id, pending: event)
        var dictionary = try event.databaseDictionary
        // The text a `Date` is stored as, made from the milliseconds themselves (a formatter could round them).
        dictionary["time"] = AuditStorage.timeText(milliseconds: milliseconds).databaseValue
        let written = Row(dictionary)
        let hash = AuditChain.hash(previous: previous, row: written)
        event.hash = hash
        // Through the view's trigger, the one encoder of stored rows; hex goes in as its bytes (SQL has no `unhex`).
        let values: [DatabaseValue] = AuditStorage.storedColumns.map { column in
            if column == "hash" { return AuditStorage.stored(hex: hash) }
            let value: DatabaseValue = written[column]
            if column == "time" { return milliseconds.databaseValue }
            if AuditStorage.hexColumns.contains(column), case .string(let text) = value.storage {
                return AuditStorage.stored(hex: text)
            }
            return value
        }
        try db.execute(
            sql: "INSERT INTO auditEvent (\(AuditStorage.selectStored)) VALUES (\(values.map { _ in "?" }.joined(separator: ", ")))",
            arguments: StatementArguments(values)
        )
        // What SQLite stored must read back as what was hashed: checked, never assumed.
        guard let stored = try Row.fetchOne(db, sql: "SELECT \(AuditStorage.selectStored) FROM auditRow WHERE id = ?", arguments: [id]),
              try AuditChain.hash(previous: previous, values: Array(AuditRowReader(db).values(stored).dropLast())) == hash else {
            throw DatabaseError(message: "audit row \(id) was stored differently from what was hashed")
        }
    }

    /// The newest audit records first, optionally those of one actor.
    public func recentAuditEvents(actor: String? = nil, limit: Int = 100) async throws -> [AuditEvent] {
        try await auditEvents(matching: AuditQuery(actor: actor), limit: limit).events
    }
}
