import Crypto
import Foundation
import GRDB

/// The audit trail's hash chain: each row's `hash` is SHA-256 of the previous row's hash and the row's own canonical
/// encoding, so that editing, deleting or inserting a row breaks every hash from there on.
///
/// The chain has no secret: someone who can write the database can also recompute it. That is why the newest hash is
/// also written to the server log (`AuditChainHeadLogger`), outside the database.
public enum AuditChain {
    /// The columns that are hashed, in the order they are encoded. Changing this list changes every hash: a new schema
    /// needs a new `version` and a verifier that knows both.
    static let columns = [
        "id", "time", "requestId", "actor", "role", "clientAddress", "userAgent", "action", "targetType", "targetId",
        "targetName", "engine", "parameters", "outcome", "errorMessage", "durationMs",
    ]
    static let version = "berth-audit-v1"

    /// The hash before the first row ever written.
    public static let genesis = ""

    /// The action of the row that retention writes after it removed an old prefix.
    public static let retentionAction = "audit.retention"

    static var selectColumns: String { columns.map { "\"\($0)\"" }.joined(separator: ", ") }

    /// SHA-256 (hex) of `previous` followed by the row's canonical encoding. The encoding is of the values as SQLite
    /// stores them (read back, never as Swift formatted them), each tagged with its type and length-prefixed, so that
    /// no two different rows encode alike.
    static func hash(previous: String, row: Row) -> String {
        hash(previous: previous, values: columns.map { row[$0] as DatabaseValue })
    }

    /// The same of the values of `columns`, in that order (a walk of the chain has them so, with no row to build).
    static func hash(previous: String, values: [DatabaseValue]) -> String {
        var encoding = [UInt8]()
        encoding.reserveCapacity(512)
        encoding.append(contentsOf: version.utf8)
        encoding.append(UInt8(ascii: "\n"))
        encoding.append(contentsOf: previous.utf8)
        encoding.append(UInt8(ascii: "\n"))
        func number(_ value: Int64) {
            if value < 0 { encoding.append(UInt8(ascii: "-")) }
            unsigned(value.magnitude)
        }
        func number(_ value: Int) { number(Int64(value)) }
        func unsigned(_ value: UInt64) {
            let start = encoding.count
            var rest = value
            repeat {
                encoding.append(UInt8(ascii: "0") + UInt8(rest % 10))
                rest /= 10
            } while rest > 0
            encoding[start...].reverse()
        }
        for value in values {
            switch value.storage {
            case .null:
                encoding.append(contentsOf: "N;".utf8)
            case .int64(let number64):
                encoding.append(UInt8(ascii: "I"))
                number(number64)
                encoding.append(UInt8(ascii: ";"))
            case .double(let real):
                encoding.append(UInt8(ascii: "R"))
                unsigned(real.bitPattern)
                encoding.append(UInt8(ascii: ";"))
            case .string(let text):
                encoding.append(UInt8(ascii: "T"))
                number(text.utf8.count)
                encoding.append(UInt8(ascii: ":"))
                encoding.append(contentsOf: text.utf8)
            case .blob(let bytes):
                encoding.append(UInt8(ascii: "B"))
                number(bytes.count)
                encoding.append(UInt8(ascii: ":"))
                bytes.withUnsafeBytes { encoding.append(contentsOf: $0) }
            }
        }
        return AuditStorage.hex(Data(SHA256.hash(data: encoding)))
    }

    /// The hash a row with `id` chains to: the hash of the row before it. `pending` is the row about to be inserted
    /// (a retention checkpoint that removed every row names the start itself).
    static func previousHash(_ db: Database, before id: Int64, pending: AuditEvent? = nil) throws -> String {
        let stored = try DatabaseValue.fetchOne(
            db, sql: "SELECT hash FROM auditRow WHERE id < ? ORDER BY id DESC LIMIT 1", arguments: [id]
        )
        let previous = try stored.map { try String.fromDatabaseValue(AuditRowReader(db).value($0, column: "hash")) } ?? nil
        // A chain already broken before this row stays reported at its break; new rows still chain on.
        return try previous ?? startingHash(db, firstId: id, pending: pending) ?? genesis
    }

    /// Seals a row written before the chain existed (migration v2, on the table of its day, when no retention had
    /// removed anything yet): the only place a row's hash is set after its insert.
    static func sealExisting(_ db: Database, id: Int64) throws {
        let start = try String.fetchOne(
            db, sql: "SELECT hash FROM auditEvent WHERE id < ? ORDER BY id DESC LIMIT 1", arguments: [id]
        ) ?? genesis
        guard let row = try Row.fetchOne(db, sql: "SELECT \(selectColumns) FROM auditEvent WHERE id = ?", arguments: [id]) else { return }
        try db.execute(sql: "UPDATE auditEvent SET hash = ? WHERE id = ?", arguments: [hash(previous: start, row: row), id])
    }

    /// What the row `firstId` chains to when no row precedes it: the genesis for the very first row, else the hash
    /// that a retention checkpoint recorded for the prefix it removed.
    static func startingHash(_ db: Database, firstId: Int64, pending: AuditEvent? = nil, legacy: Bool = false) throws -> String? {
        if firstId == 1 { return genesis }
        var checkpoints = try String.fetchAll(
            db, sql: legacy
                ? "SELECT parameters FROM auditEvent WHERE action = ? ORDER BY id DESC"
                : "SELECT parameters FROM auditRow WHERE action = (SELECT id FROM auditWord WHERE word = ?) ORDER BY id DESC",
            arguments: [retentionAction]
        )
        if let pending, pending.action == retentionAction, let parameters = pending.parameters {
            checkpoints.insert(parameters, at: 0)
        }
        for text in checkpoints {
            guard let checkpoint = RetentionCheckpoint(json: text) else { continue }
            if checkpoint.removedThroughId == firstId - 1 { return checkpoint.lastRemovedHash }
        }
        return nil
    }
}

/// What a retention run records about the prefix it removed, in its own (chained) row.
struct RetentionCheckpoint: Codable, Equatable {
    var removedThroughId: Int64
    var lastRemovedHash: String
    var removedRows: Int
    var cutoff: String

    init(removedThroughId: Int64, lastRemovedHash: String, removedRows: Int, cutoff: String) {
        self.removedThroughId = removedThroughId
        self.lastRemovedHash = lastRemovedHash
        self.removedRows = removedRows
        self.cutoff = cutoff
    }

    init?(json: String?) {
        guard let json, let value = try? JSONDecoder().decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = value
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// The result of walking the chain.
public struct AuditVerification: Sendable, Equatable, CustomStringConvertible {
    /// Rows whose hash was recomputed.
    public var checkedRows: Int
    /// The newest row and its hash, when the table is not empty.
    public var headId: Int64?
    public var headHash: String?
    /// The first row that does not verify, and why.
    public var firstBroken: Broken?

    public struct Broken: Sendable, Equatable {
        public var id: Int64
        public var reason: String
    }

    public var isIntact: Bool { firstBroken == nil }

    public var description: String {
        if let broken = firstBroken {
            return "audit chain BROKEN at row \(broken.id): \(broken.reason) (\(checkedRows) rows checked before it)"
        }
        guard let headId, let headHash else { return "audit chain intact: no rows yet" }
        return "audit chain intact: \(checkedRows) rows, newest row \(headId), hash \(headHash)"
    }
}

extension AppDatabase {
    /// Walks the whole chain in id order, with flat memory, and reports the first row that does not verify: a changed
    /// row (its hash differs), a deleted one (a gap in the ids, or a later hash that no longer chains), an inserted one
    /// (an id that the sequence never handed out, or a hash that does not chain), or removed newest rows (the
    /// sequence went past the last row).
    public func verifyAuditChain() async throws -> AuditVerification {
        try await writer.read { db in try Self.verifyChain(db, through: nil) }
    }

    /// The walk itself, optionally only up to row `through` (retention checks what it is about to remove).
    static func verifyChain(_ db: Database, through limit: Int64?) throws -> AuditVerification {
        do {
            var result = AuditVerification(checkedRows: 0)
            // A file Berth has not converted yet (`berth audit verify` opens it as it is) is read as it was stored.
            let legacy = try !db.tableExists("auditRow")
            let table = legacy ? "auditEvent" : "auditRow"
            let sequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = ?", arguments: [table]) ?? 0
            var previousId: Int64?
            var previousHash: String?
            let reader = AuditRowReader(db)
            let rows = try Row.fetchCursor(
                db, sql: "SELECT \(AuditStorage.selectStored) FROM \(table) WHERE id <= ? ORDER BY id", arguments: [limit ?? Int64.max]
            )
            while let row = try rows.next() {
                var values = legacy ? Array(row.databaseValues) : try reader.values(row)
                let id: Int64 = row[0]
                let stored = String.fromDatabaseValue(values.removeLast())
                let expectedPrevious: String
                if let previousId, let previousHash {
                    guard id == previousId + 1 else {
                        result.firstBroken = .init(id: id, reason: "rows \(previousId + 1)…\(id - 1) are missing")
                        return result
                    }
                    expectedPrevious = previousHash
                } else {
                    guard let start = try AuditChain.startingHash(db, firstId: id, legacy: legacy) else {
                        result.firstBroken = .init(
                            id: id, reason: "rows before \(id) are missing and no retention checkpoint accounts for them"
                        )
                        return result
                    }
                    expectedPrevious = start
                }
                let computed = AuditChain.hash(previous: expectedPrevious, values: values)
                guard stored == computed else {
                    let reason = stored == nil
                        ? "the row has no hash (written outside Berth)"
                        : "the row's content or its place in the chain changed (hash mismatch)"
                    result.firstBroken = .init(id: id, reason: reason)
                    return result
                }
                result.checkedRows += 1
                previousId = id
                previousHash = computed
            }
            result.headId = previousId
            result.headHash = previousHash
            let newest = previousId ?? 0
            if limit != nil { return result }
            if sequence > newest {
                result.firstBroken = .init(id: newest + 1, reason: "rows \(newest + 1)…\(sequence) were written and are gone")
            } else if sequence < newest {
                result.firstBroken = .init(id: newest, reason: "row \(newest) was not handed out by the table's sequence")
            }
            return result
        }
    }

    /// The newest row's id and hash, for the server log.
    public func auditChainHead() async throws -> (id: Int64, hash: String)? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, hash FROM auditRow ORDER BY id DESC LIMIT 1") else {
                return nil
            }
            let hash = try String.fromDatabaseValue(AuditRowReader(db).value(row["hash"], column: "hash"))
            return (row["id"], hash ?? "")
        }
    }

    /// Removes the audit rows older than `cutoff` — always a whole prefix, oldest first — and appends a checkpoint
    /// row that records where the removed prefix ended and its last hash, so that verification still passes.
    /// Returns the number of rows removed (no checkpoint when nothing was old enough).
    @discardableResult
    public func applyAuditRetention(olderThan cutoff: Date, actor: String = "berth") async throws -> Int {
        try await writer.write { db in
            // The last row of the prefix: every row up to it is older than the cutoff (time grows with id).
            guard let lastId = try AuditTimeline.lastId(db, before: cutoff) else { return 0 }
            // Evidence is never removed: a prefix that does not verify stays, and retention says why.
            let prefix = try Self.verifyChain(db, through: lastId)
            if let broken = prefix.firstBroken {
                throw StoreError.retentionRefused(reason: "the rows to remove do not verify (row \(broken.id): \(broken.reason))")
            }
            let lastHash = prefix.headHash ?? ""
            let removed = try Int.fetchOne(db, sql: "SELECT count(*) FROM auditRow WHERE id <= ?", arguments: [lastId]) ?? 0
            try db.execute(sql: "DELETE FROM auditRow WHERE id <= ?", arguments: [lastId])
            // A finished console's recording goes with the last of its audit rows, never before.
            try db.execute(
                sql: """
                    DELETE FROM consoleRecording WHERE endedAt IS NOT NULL AND id NOT IN (
                        SELECT CAST(json_extract(parameters, '$.recording') AS INTEGER) FROM auditRow
                        WHERE action IN (SELECT id FROM auditWord WHERE word IN (?, ?))
                        AND json_extract(parameters, '$.recording') IS NOT NULL)
                    """,
                arguments: [AuditAction.consoleOpen.rawValue, AuditAction.consoleClose.rawValue]
            )
            let checkpoint = RetentionCheckpoint(
                removedThroughId: lastId, lastRemovedHash: lastHash, removedRows: removed,
                cutoff: ISO8601DateFormatter().string(from: cutoff)
            )
            var event = AuditEvent(
                actor: actor, action: AuditChain.retentionAction, targetType: "audit", parameters: checkpoint.json, outcome: .ok
            )
            try Self.append(&event, db)
            return removed
        }
    }
}
