import Foundation
import GRDB

/// Attempt first, outcome after: an action that changes something is put on record before it runs, so that it can
/// never be done without a trace.
///
/// `beginAuditedAction` commits an intent (the prospective row, and some reserved space); the action runs;
/// `settleAuditedAction` removes the intent and appends the one audit row in a single transaction. An intent that is
/// still there after a crash, or after a settle that failed (a full disk), becomes a row with outcome `error` and the
/// words "outcome not recorded" (`recoverAuditIntents`).
extension AppDatabase {
    /// Space each intent holds and its settle frees right before appending, so that the database file need not grow
    /// for the row and its search index. (The write-ahead log may still need room: a settle can fail on a full disk,
    /// and then the attempt stays on record.)
    static let auditIntentReserve = 64 * 1024

    /// Commits the attempt of `process` (synced, as every write) and returns its intent id. Throws when it can't be
    /// written: the caller must then not act.
    public func beginAuditedAction(_ event: AuditEvent, process: String) async throws -> Int64 {
        let json = try Self.intentJSON(event)
        return try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO auditIntent (process, createdAt, event, reserve) VALUES (?, ?, ?, zeroblob(?))",
                arguments: [process, Date(), json, Self.auditIntentReserve]
            )
            return db.lastInsertedRowID
        }
    }

    /// Appends the action's audit row and removes its intent, in one transaction; returns the row as stored, or nil
    /// when the intent was recovered meanwhile (its row, "outcome not recorded", is already there: one row per action).
    @discardableResult
    public func settleAuditedAction(intent: Int64, as event: AuditEvent) async throws -> AuditEvent? {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM auditIntent WHERE id = ?", arguments: [intent])
            guard db.changesCount == 1 else { return nil }
            var event = event
            try Self.append(&event, db)
            return event
        }
    }

    /// Turns the intents other processes left (a crash, a kill) into audit rows (outcome `error`, "outcome not
    /// recorded" and the attempt's time), oldest first. One server runs on a database at a time: a process's own
    /// intents are its running actions. Returns how many.
    @discardableResult
    public func recoverAuditIntents(leftBy ownProcess: String) async throws -> Int {
        try await writer.write { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, createdAt, event FROM auditIntent WHERE process != ? ORDER BY id", arguments: [ownProcess]
            )
            var recovered = 0
            for row in rows {
                let id: Int64 = row["id"]
                let attempted: Date = row["createdAt"]
                let text: String = row["event"]
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .millisecondsSince1970
                var event = (try? decoder.decode(AuditEvent.self, from: Data(text.utf8)))
                    ?? AuditEvent(actor: "-", action: "unknown", outcome: .error)
                event.id = nil
                event.hash = nil
                event.outcome = .error
                event.durationMs = nil
                event.errorMessage = "outcome not recorded: the action was sent to the engine at "
                    + ISO8601DateFormatter().string(from: attempted)
                    + ", and Berth stopped or could not write before its outcome was recorded"
                try db.execute(sql: "DELETE FROM auditIntent WHERE id = ?", arguments: [id])
                try Self.append(&event, db)
                recovered += 1
            }
            return recovered
        }
    }

    /// How many attempts wait for their outcome row (running actions, and any not yet recovered).
    public func pendingAuditIntents() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM auditIntent") ?? 0 }
    }

    private static func intentJSON(_ event: AuditEvent) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return String(decoding: try encoder.encode(event), as: UTF8.self)
    }
}
