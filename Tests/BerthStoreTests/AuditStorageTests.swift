@testable import BerthStore
import Foundation
import GRDB
import Testing
import TestSupport

/// The audit trail's small storage (migration v19): a trail written before it converts with every row and hash
/// unchanged, or not at all; and what tools see through the `auditEvent` view is what Berth reads.
@Suite struct AuditStorageTests {
    static let lastOldSchema = "v18: dashboards across engines"

    /// Rows of the kinds Berth wrote before v19, chained the way it chained them, in a v18 database.
    func writeOldTrail(_ db: Database, extra: [String: (any DatabaseValueConvertible)?]? = nil) throws {
        var previous = AuditChain.genesis
        var rows: [[String: (any DatabaseValueConvertible)?]] = []
        for index in 1...40 {
            let container = Self.containerId(index)
            rows.append([
                "time": String(format: "2026-11-%02d 08:%02d:30.%03d", index / 2 + 1, index, index), "requestId": String(format: "%032x", index),
                "actor": index % 3 == 0 ? "alice" : "bob", "role": "operator", "clientAddress": "10.0.0.\(index % 4)",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "action": ["container.stop", "image.pull", "login"][index % 3],
                "targetType": index % 3 == 1 ? "image" : "container",
                "targetId": [container, "sha256:" + container, "volume-\(index)", nil, "abcde"][index % 5],
                "targetName": index % 4 == 0 ? nil : "web-\(index % 6)", "engine": index % 2 == 0 ? "local" : "prod",
                "parameters": index == 17 ? #"{"note":"needle in a haystack"}"# : #"{"timeout":"10"}"#,
                "outcome": ["ok", "denied", "error"][index % 3], "errorMessage": index % 3 == 2 ? "daemon said no" : nil,
                "durationMs": index % 7 == 0 ? nil : index * 3,
            ])
        }
        // Written by some other tool: a time Berth never writes stays as it came (later than the row before).
        rows[30]["time"] = "2026-11-16T09:00:00Z"
        if let extra { rows[35].merge(extra) { $1 } }
        for (offset, var values) in rows.enumerated() {
            values["id"] = Int64(offset + 1)
            let hash = AuditChain.hash(previous: previous, row: Row(values))
            values["hash"] = hash
            let names = values.keys.sorted()
            try db.execute(
                sql: "INSERT INTO auditEvent (\(names.joined(separator: ", "))) VALUES (\(names.map { _ in "?" }.joined(separator: ", ")))",
                arguments: StatementArguments(names.map { values[$0]! })
            )
            previous = hash
        }
    }

    /// A container id the way the engine makes them: 64 hex digits that differ from the first.
    static func containerId(_ index: Int) -> String {
        (0..<4).map { String(format: "%016llx", UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64($0)) }.joined()
    }

    func allRows(_ db: Database) throws -> [[DatabaseValue]] {
        try Row.fetchAll(db, sql: "SELECT \(AuditStorage.selectStored) FROM auditEvent ORDER BY id").map { Array($0.databaseValues) }
    }

    @Test func aTrailWrittenBeforeV19ConvertsWithEveryRowAndHashUnchanged() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.sqlite").path
        let pool = try DatabasePool(path: path, configuration: AppDatabase.configuration())
        try AppDatabase.migrator.migrate(pool, upTo: Self.lastOldSchema)
        try await pool.write { db in try writeOldTrail(db) }
        let before = try await pool.read { db in try allRows(db) }
        // The chain as v18 held it: every stored hash chains on from the one before.
        let headBefore = try await pool.read { db in
            var previous = AuditChain.genesis
            for row in try Row.fetchAll(db, sql: "SELECT \(AuditChain.selectColumns), hash FROM auditEvent ORDER BY id") {
                let hash = AuditChain.hash(previous: previous, row: row)
                #expect(row["hash"] == hash)
                previous = hash
            }
            return previous
        }

        // `berth audit verify` reads a file Berth has not converted yet as it is.
        let unconverted = try AppDatabase.openReadOnly(path: path)
        let legacy = try await unconverted.verifyAuditChain()
        #expect(legacy.isIntact && legacy.checkedRows == 40 && legacy.headHash == headBefore)
        #expect(try await unconverted.verifyConsoleRecordings().isEmpty)

        let database = try AppDatabase(pool)
        #expect(try await database.appliedMigrations().last == "v19: audit rows stored small")
        #expect(try await pool.read { db in try allRows(db) } == before, "the view shows every row as written")
        let verified = try await database.verifyAuditChain()
        #expect(verified.isIntact && verified.checkedRows == 40 && verified.headHash == headBefore)
        // Berth's own reading agrees with the view, row by row.
        let events = try await database.auditEvents(matching: AuditQuery(), limit: 100).events
        #expect(events.count == 40)
        for (event, row) in zip(events.reversed(), before) {
            #expect(event.id == row[0].storage.value as? Int64)
            #expect(event.targetId == String.fromDatabaseValue(row[9]) && event.hash == String.fromDatabaseValue(row[16]))
            #expect(event.userAgent == String.fromDatabaseValue(row[6]) && event.actor == String.fromDatabaseValue(row[3]))
        }
        // Stored small: hex as its bytes, Berth's times as milliseconds, repeated texts once.
        let kinds = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT typeof(time), typeof(requestId), typeof(targetId), typeof(hash), typeof(actor) FROM auditRow WHERE id = 5")
        }
        #expect(kinds.map { Array($0.databaseValues) } == ["integer", "blob", "blob", "blob", "integer"].map(\.databaseValue))
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM auditWord WHERE word = 'alice'") } == 1)

        // Search still finds what it found: free text, a name, an id, an id prefix of either storage, a time range.
        #expect(try await database.auditEvents(matching: AuditQuery(text: "haystack")).events.map(\.id) == [17])
        #expect(try await database.auditEvents(matching: AuditQuery(text: "said no")).events.count == 13)
        #expect(try await database.auditEvents(matching: AuditQuery(target: "web-5")).events.compactMap(\.id).allSatisfy { $0 % 6 == 5 })
        #expect(try await database.auditEvents(matching: AuditQuery(target: "volume-12")).events.map(\.id) == [12])
        #expect(try await database.auditEvents(matching: AuditQuery(target: "abcd"), limit: 100).events.map(\.id) == [39, 34, 29, 24, 19, 14, 9, 4])
        let container = Self.containerId(10)
        #expect(try await database.auditEvents(matching: AuditQuery(target: String(container.prefix(9)))).events.map(\.id) == [10])
        #expect(try await database.auditEvents(matching: AuditQuery(target: container.uppercased())).events.map(\.id) == [10])
        let day = try #require(AuditQuery.parseTime("2026-11-05"))
        let nextDay = try #require(AuditQuery.parseTime("2026-11-06"))
        #expect(try await database.auditEvents(matching: AuditQuery(from: day, to: nextDay)).events.map(\.id) == [9, 8])

        // New rows chain on from the converted ones.
        try await database.recordAudit(AuditEvent(actor: "carol", action: "login", targetId: String(format: "%064x", 1), outcome: .ok))
        let after = try await database.verifyAuditChain()
        #expect(after.isIntact && after.checkedRows == 41)
    }

    @Test func aRowThatWouldNotReadBackStopsTheConversionAndKeepsTheOldTrail() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pool = try DatabasePool(path: directory.appendingPathComponent("odd.sqlite").path, configuration: AppDatabase.configuration())
        try AppDatabase.migrator.migrate(pool, upTo: Self.lastOldSchema)
        // Bytes where Berth writes text: stored as bytes, they would read back as hex text.
        try await pool.write { db in try writeOldTrail(db, extra: ["targetId": Data([0x00, 0xff])]) }
        let before = try await pool.read { db in try allRows(db) }
        #expect(throws: DatabaseError.self) { try AppDatabase(pool) }
        #expect(try await pool.read { db in try AppDatabase.migrator.appliedMigrations(db).last } == Self.lastOldSchema)
        #expect(try await pool.read { db in try allRows(db) } == before, "the old trail is untouched")
    }

    @Test func theViewAndBerthReadEveryStoredFormAlike() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("new.sqlite").path)
        try await database.recordAudit(AuditEvent(
            requestId: "00ff", actor: "alice", userAgent: "curl/8", action: "container.stop", targetId: String(format: "%064x", 5),
            targetName: "web", engine: "local", parameters: "{}", outcome: .ok, durationMs: 4
        ))
        // What other tools may insert through the view: odd times, upper-case hex, numbers and bytes in text columns.
        try await database.writer.write { db in
            try db.execute(sql: """
                INSERT INTO auditEvent (time, requestId, actor, action, targetId, outcome, hash) VALUES
                    (1764000000123, 'ABCD', 'mallory', 'login', x'0102', 'ok', 'not-hex'),
                    (1764000000.5, NULL, 42, 'login', 'abcde', 'denied', NULL),
                    ('yesterday', 'ab', x'00', 'login', '', 'error', x'ff'),
                    (-70000000000000, NULL, 'bob', 'login', NULL, 'ok', NULL),
                    (9999999999999999, NULL, 'bob', 'login', NULL, 'ok', NULL)
                """)
            // Written past the triggers: what a word column holds when it is not an id.
            try db.execute(sql: """
                DROP TRIGGER auditEvent_append_only;
                UPDATE auditRow SET actor = 'mallory', role = 3.5 WHERE id = 2;
                """)
        }
        try await database.writer.read { db in
            let view = try Row.fetchAll(db, sql: "SELECT \(AuditStorage.selectStored) FROM auditEvent ORDER BY id").map { Array($0.databaseValues) }
            let reader = AuditRowReader(db)
            let read = try Row.fetchAll(db, sql: "SELECT \(AuditStorage.selectStored) FROM auditRow ORDER BY id").map { try reader.values($0) }
            #expect(view.count == 6)
            #expect(view == read)
            #expect(read[4][1] == (-70_000_000_000_000 as Int64).databaseValue, "a number no time of years 0000–9999 stays a number")
            #expect(read[1][3] == "mallory".databaseValue)
        }
        // Every such row is shown and exported, none stops the page.
        let events = try await database.auditEvents(matching: AuditQuery(), limit: 10).events
        #expect(events.count == 6)
        #expect(events.map { AuditExportFormat.csv.line($0) }.allSatisfy { !$0.isEmpty })
        let first = try #require(try await database.auditEvent(id: 1))
        #expect(first.requestId == "00ff" && first.targetId == String(format: "%064x", 5) && first.userAgent == "curl/8")
    }

    @Test func aRowsOwnTimeFindsExactlyThatRow() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("times.sqlite").path)
        for _ in 1...300 {
            try await database.recordAudit(AuditEvent(actor: "alice", action: "login", outcome: .ok))
            try await Task.sleep(for: .microseconds(300))
        }
        // Each time comes back as a `Date` a hair off its millisecond; the halving must not miss the row.
        let events = try await database.recentAuditEvents(limit: 300)
        for event in events {
            let id = try #require(event.id)
            let through = event.time.addingTimeInterval(0.000_5)
            let found = try await database.auditEvents(matching: AuditQuery(from: event.time, to: through), limit: 300).events
            #expect(found.last?.id == id, "row \(id) at \(event.time.timeIntervalSince1970)")
        }
    }
}
