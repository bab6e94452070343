import BerthStore
import Foundation
import GRDB
import NIOCore
import Testing
import TestSupport

/// The audit trail's tamper evidence, attacked the way an intruder with the file would: with the sqlite3 shell.
@Suite struct AuditChainTests {
    /// A database file with `count` audit rows written the app's way.
    func seeded(_ count: Int) async throws -> (AppDatabase, String, URL) {
        let directory = try Repository.temporaryDirectory()
        let path = directory.appendingPathComponent("berth.sqlite").path
        let database = try AppDatabase.open(path: path)
        for index in 1...count {
            try await database.recordAudit(AuditEvent(
                actor: index % 2 == 0 ? "alice" : "bob", role: "operator", clientAddress: "10.0.0.\(index)",
                action: "container.stop", targetType: "container", targetId: "abc\(index)", targetName: "web-\(index)",
                parameters: #"{"timeout":"10"}"#, outcome: .ok, durationMs: index
            ))
        }
        return (database, path, directory)
    }

    func sqlite(_ path: String, _ sql: String) async throws {
        let status = try await ChildProcess.run("/usr/bin/sqlite3", [path, sql])
        #expect(status == 0, "sqlite3 \(sql)")
    }

    @Test func anUntouchedTrailVerifiesAndEachRowChainsToThePrevious() async throws {
        let (database, _, directory) = try await seeded(20)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await database.verifyAuditChain()
        #expect(result.isIntact, "\(result)")
        #expect(result.checkedRows == 20)
        #expect(result.headId == 20)
        let rows = try await database.recentAuditEvents(limit: 100)
        #expect(Set(rows.compactMap(\.hash)).count == 20, "every row has its own hash")
        #expect(rows.first?.hash == result.headHash)
        #expect(try await database.auditChainHead()?.hash == result.headHash)
    }

    @Test func rowsCannotBeUpdatedWhileTheGuardTriggerStands() async throws {
        let (database, path, directory) = try await seeded(3)
        defer { try? FileManager.default.removeItem(at: directory) }
        let status = try await ChildProcess.run("/usr/bin/sqlite3", [path, "UPDATE auditEvent SET actor = 'mallory' WHERE id = 2"])
        #expect(status != 0)
        #expect(try await database.recentAuditEvents().allSatisfy { $0.actor != "mallory" })
        #expect(try await database.verifyAuditChain().isIntact)
    }

    @Test func anEditedActorBreaksTheChainAtThatRow() async throws {
        let (database, path, directory) = try await seeded(10)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(path, "DROP TRIGGER auditEvent_append_only; UPDATE auditEvent SET actor = 'mallory' WHERE id = 4")
        let result = try await database.verifyAuditChain()
        #expect(result.firstBroken?.id == 4)
        #expect(result.checkedRows == 3)
        #expect(result.firstBroken?.reason.contains("changed") == true)
    }

    @Test func anEditedRowWithARecomputedLookingHashStillBreaks() async throws {
        // Swapping in another row's hash is not enough: the hash covers the row's id and its predecessor.
        let (database, path, directory) = try await seeded(6)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(path, "DROP TRIGGER auditEvent_append_only; UPDATE auditEvent SET outcome = 'denied', hash = (SELECT hash FROM auditEvent WHERE id = 2) WHERE id = 5")
        #expect(try await database.verifyAuditChain().firstBroken?.id == 5)
    }

    @Test func aDeletedRowIsFoundWhereItsSuccessorNoLongerChains() async throws {
        let (database, path, directory) = try await seeded(10)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(path, "DELETE FROM auditEvent WHERE id = 6")
        let result = try await database.verifyAuditChain()
        #expect(result.firstBroken?.id == 7)
        #expect(result.firstBroken?.reason.contains("missing") == true)
    }

    @Test func deletingTheOldestOrTheNewestRowsIsFoundToo() async throws {
        let (database, path, directory) = try await seeded(8)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(path, "DELETE FROM auditEvent WHERE id = 8")
        let tail = try await database.verifyAuditChain()
        #expect(tail.firstBroken?.id == 8, "\(tail)")
        try await sqlite(path, "DELETE FROM auditEvent WHERE id <= 2")
        let head = try await database.verifyAuditChain()
        #expect(head.firstBroken?.id == 3, "\(head)")
        #expect(head.firstBroken?.reason.contains("no retention checkpoint") == true)
    }

    @Test func anInsertedRowIsFound() async throws {
        let (database, path, directory) = try await seeded(5)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(
            path,
            "INSERT INTO auditEvent (time, actor, action, outcome, hash) VALUES ('2026-01-01 00:00:00.000', 'ghost', 'login', 'ok', (SELECT hash FROM auditEvent WHERE id = 5))"
        )
        let result = try await database.verifyAuditChain()
        #expect(result.firstBroken?.id == 6)
        // Rows written by the app after the forgery chain on, but the break stays reported where it is.
        try await database.recordAudit(AuditEvent(actor: "alice", action: "logout", outcome: .ok))
        #expect(try await database.verifyAuditChain().firstBroken?.id == 6)
    }

    @Test func anInsertedRowBetweenTwoRowsIsFound() async throws {
        // Make room by moving a row's id, as an intruder would to slip a row in.
        let (database, path, directory) = try await seeded(5)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(path, "DROP TRIGGER auditEvent_append_only; UPDATE auditEvent SET id = 10 WHERE id = 5; INSERT INTO auditEvent (id, time, actor, action, outcome) VALUES (5, '2026-01-01 00:00:00.000', 'ghost', 'login', 'ok')")
        #expect(try await database.verifyAuditChain().firstBroken?.id == 5)
    }

    @Test func retentionRemovesAConsoleRecordingOnlyWithTheLastOfItsRows() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sqlite").path
        let store = try AppDatabase.open(path: path)
        let finished = try await store.createConsoleRecording(ConsoleRecording(actor: "alice", container: "c1", containerName: "web"))
        let id = try #require(finished.id)
        try await store.appendConsoleChunk(recordingId: id, seq: 0, text: ByteBuffer(string: "{\"version\": 2}\n"))
        try await store.finishConsoleRecording(id: id, bytes: 15, sha256: "x", truncated: false)
        let open = try await store.createConsoleRecording(ConsoleRecording(actor: "bob", container: "c2", containerName: "db"))
        let parameters = #"{"recording":"\#(id)"}"#
        try await store.recordAudit(AuditEvent(actor: "alice", action: "console.open", parameters: parameters, outcome: .ok))
        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        try await store.recordAudit(AuditEvent(actor: "alice", action: "console.close", parameters: parameters, outcome: .ok))
        // The opening row goes; the closing row still names the recording: it stays.
        #expect(try await store.applyAuditRetention(olderThan: cutoff) == 1)
        #expect(try await store.consoleRecording(id: id) != nil)
        // Both rows gone: so is the recording, its text with it. A console still open keeps its recording.
        _ = try await store.applyAuditRetention(olderThan: Date().addingTimeInterval(1))
        #expect(try await store.consoleRecording(id: id) == nil)
        #expect(try await store.consoleRecordingText(id: id).isEmpty)
        #expect(try await store.consoleRecording(id: try #require(open.id)) != nil)
    }

    @Test func retentionRemovesAWholeOldPrefixAndTheChainStillVerifies() async throws {
        let fresh = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: fresh) }
        let freshPath = fresh.appendingPathComponent("b.sqlite").path
        let store = try AppDatabase.open(path: freshPath)
        for index in 1...6 {
            try await store.recordAudit(AuditEvent(actor: "alice", action: "container.start", targetId: "\(index)", outcome: .ok))
        }
        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        for index in 7...9 {
            try await store.recordAudit(AuditEvent(actor: "bob", action: "container.stop", targetId: "\(index)", outcome: .ok))
        }
        #expect(try await store.applyAuditRetention(olderThan: cutoff) == 6)
        let remaining = try await store.recentAuditEvents(limit: 100)
        #expect(remaining.map(\.id) == [10, 9, 8, 7])
        #expect(remaining.first?.action == "audit.retention")
        let afterFirst = try await store.verifyAuditChain()
        #expect(afterFirst.isIntact, "\(afterFirst)")
        // The free-text index lost the removed rows with them.
        let indexed = try await DatabaseQueue(path: freshPath).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM auditText") }
        #expect(indexed == 4)
        // New rows, and a second retention that removes everything, keep it verifiable.
        try await store.recordAudit(AuditEvent(actor: "bob", action: "logout", outcome: .ok))
        #expect(try await store.applyAuditRetention(olderThan: Date().addingTimeInterval(1)) == 5)
        let afterSecond = try await store.verifyAuditChain()
        #expect(afterSecond.isIntact, "\(afterSecond)")
        #expect(afterSecond.checkedRows == 1)
        // Deleting the checkpoint is caught.
        try await sqlite(freshPath, "DELETE FROM auditEvent WHERE action = 'audit.retention'; INSERT INTO auditEvent (time, actor, action, outcome) VALUES ('2030-01-01 00:00:00.000', 'x', 'y', 'ok')")
        #expect(try await store.verifyAuditChain().isIntact == false)
    }

    @Test func retentionNeverRemovesATamperedPrefix() async throws {
        let (database, path, directory) = try await seeded(6)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await sqlite(path, "DROP TRIGGER auditEvent_append_only; UPDATE auditEvent SET actor = 'mallory' WHERE id = 2")
        await #expect(throws: StoreError.self) { try await database.applyAuditRetention(olderThan: Date().addingTimeInterval(1)) }
        #expect(try await database.recentAuditEvents().count == 6, "nothing removed")
        #expect(try await database.verifyAuditChain().firstBroken?.id == 2, "the evidence stays")
    }

    @Test func nothingOldEnoughMeansNoCheckpoint() async throws {
        let (database, _, directory) = try await seeded(3)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await database.applyAuditRetention(olderThan: Date().addingTimeInterval(-86_400)) == 0)
        #expect(try await database.recentAuditEvents().count == 3)
    }

    @Test func theWriterSyncsEveryCommit() async throws {
        let (database, _, directory) = try await seeded(1)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await database.writerSynchronousMode() == 2, "synchronous=FULL")
    }

    @Test func timeNeverGoesBackwardsAlongTheIds() async throws {
        let (database, _, directory) = try await seeded(50)
        defer { try? FileManager.default.removeItem(at: directory) }
        let times = try await database.recentAuditEvents(limit: 100).reversed().map(\.time)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
    }
}

@Suite struct AuditBackupTests {
    @Test func anOnlineBackupIsAConsistentVerifiableCopy() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("live.sqlite").path)
        for index in 1...200 {
            try await database.recordAudit(AuditEvent(actor: "alice", action: "container.start", targetId: "\(index)", outcome: .ok))
        }
        try await database.saveSetting(UserSetting(username: "alice", key: "theme", value: "dark"))
        // Writes go on while the copy is taken.
        let writer = Task {
            for index in 1...100 {
                try await database.recordAudit(AuditEvent(actor: "bob", action: "container.stop", targetId: "\(index)", outcome: .ok))
            }
        }
        let copyPath = directory.appendingPathComponent("copy.sqlite").path
        try await database.backup(to: copyPath)
        try await writer.value
        let copy = try AppDatabase.open(path: copyPath)
        let verification = try await copy.verifyAuditChain()
        #expect(verification.isIntact, "\(verification)")
        #expect(verification.checkedRows >= 200)
        #expect(try await copy.settings(of: "alice") == ["theme": "dark"])
        // Readable by its owner only (it holds session tokens); an existing file is never overwritten.
        let mode = try FileManager.default.attributesOfItem(atPath: copyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        await #expect(throws: StoreError.self) { try await database.backup(to: copyPath) }
    }
}
