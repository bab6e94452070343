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
    /// Appends one audit record and returns it with its id. Audit rows are never updated or deleted by the app.
    @discardableResult
    public func recordAudit(_ event: AuditEvent) async throws -> AuditEvent {
        try await writer.write { db in
            var event = event
            try event.insert(db)
            return event
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
