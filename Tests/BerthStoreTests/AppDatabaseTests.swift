@testable import BerthStore
import Foundation
import GRDB
import GRDBSQLite
import Testing
import TestSupport

@Suite struct AppDatabaseTests {
    func openFresh() throws -> (AppDatabase, URL) {
        let directory = try Repository.temporaryDirectory()
        let path = directory.appendingPathComponent("nested/berth.sqlite").path
        return (try AppDatabase.open(path: path), directory)
    }

    @Test func opensAFileInWALModeWithTheFirstMigration() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("nested/berth.sqlite").path))
        #expect(try await database.journalMode() == "wal")
        #expect(try await database.appliedMigrations() == [
            "v1: sessions, settings, audit", "v2: audit hash chain, audit search indexes, write probe",
            "v3: audit free-text index", "v4: audit rows are append-only", "v5: dashboards, share links", "v6: audit intents",
            "v7: console grants and recordings", "v8: jobs", "v9: saved registry logins",
            "v10: image update checks", "v11: alerts",
            "v12: alert rules for restart loops", "v13: how far each alert rule has queued",
            "v14: compose project versions", "v15: audit search by engine", "v16: jobs name their engine", "v17: engines added in the browser",
            "v18: dashboards across engines", "v19: audit rows stored small",
        ])
        #expect(await database.isHealthy())
    }

    @Test func reopeningKeepsDataAndDoesNotMigrateAgain() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("berth.sqlite").path
        do {
            let database = try AppDatabase.open(path: path)
            try await database.saveSetting(UserSetting(username: "alice", key: "theme", value: "dark"))
        }
        let again = try AppDatabase.open(path: path)
        #expect(try await again.settings(of: "alice") == ["theme": "dark"])
        #expect(try await again.appliedMigrations().count == 19)
    }

    @Test func jobsLeftRunningAreInterruptedAndOnlyTheNewestEndedOnesAreKept() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        let queued = try await database.createJob(JobRecord(kind: "image.pull", title: "Pull a", owner: "alice"))
        let running = try await database.createJob(JobRecord(kind: "image.pull", title: "Pull b", owner: "alice", state: .running))
        var ended = try await database.createJob(JobRecord(kind: "image.pull", title: "Pull c", owner: "bob"))
        ended.state = .succeeded
        ended.message = "Pulled c."
        try await database.updateJob(ended)
        #expect(try await database.interruptLeftoverJobs(message: "stopped") == 2)
        for id in [queued.id, running.id] {
            let job = try await database.job(id: try #require(id))
            #expect(job?.state == .interrupted && job?.message == "stopped" && job?.endedAt != nil)
        }
        #expect(try await database.job(id: try #require(ended.id))?.state == .succeeded)

        // Past `keptJobs`, the oldest ended jobs go; a job still running stays whatever its age.
        let stillRunning = try await database.createJob(JobRecord(kind: "image.pull", title: "Pull d", owner: "alice", state: .running))
        for index in 0..<AppDatabase.keptJobs {
            _ = try await database.createJob(JobRecord(kind: "image.pull", title: "Pull \(index)", owner: "alice", state: .succeeded))
        }
        #expect(try await database.job(id: try #require(ended.id)) == nil)
        #expect(try await database.job(id: try #require(stillRunning.id))?.state == .running)
        #expect(try await database.recentJobs(limit: 5000).count == AppDatabase.keptJobs + 1)
    }

    @Test func connectionsWaitForLocksAndEnforceForeignKeys() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The same configuration AppDatabase uses, read back from SQLite itself.
        let pool = try DatabasePool(path: directory.appendingPathComponent("b.sqlite").path, configuration: AppDatabase.configuration())
        // The writer's settings: readers of a pool never wait on locks in WAL mode.
        let (busyTimeout, foreignKeys) = try pool.write { db in
            (try Int.fetchOne(db, sql: "PRAGMA busy_timeout"), try Bool.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(busyTimeout == 5000)
        #expect(foreignKeys == true)
    }

    @Test func anUnusablePathNamesTheDatabaseFlag() throws {
        // A file where a folder should be: the folder can't be created.
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let blocker = directory.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let path = blocker.appendingPathComponent("berth.sqlite").path
        #expect {
            _ = try AppDatabase.open(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains(path) && text.contains("--database")
        }
    }

    @Test func auditRecordsAreAppendedAndReadNewestFirst() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await database.recordAudit(AuditEvent(actor: "alice", action: "container.stop", targetId: "abc", outcome: .ok))
        let second = try await database.recordAudit(
            AuditEvent(actor: "bob", action: "container.remove", outcome: .denied, errorMessage: "role viewer may not remove")
        )
        #expect(first.id != nil && second.id != nil && first.id! < second.id!)
        let all = try await database.recentAuditEvents()
        #expect(all.map(\.action) == ["container.remove", "container.stop"])
        #expect(all.first?.outcome == .denied)
        let alices = try await database.recentAuditEvents(actor: "alice")
        #expect(alices.map(\.targetId) == ["abc"])
        // Millisecond precision survives the round trip.
        let stored = try #require(alices.first)
        #expect(abs(stored.time.timeIntervalSince(first.time)) < 0.001)
    }

    @Test func settingsAreReplacedPerKeyAndKeptPerUser() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await database.saveSetting(UserSetting(username: "alice", key: "theme", value: "light"))
        try await database.saveSetting(UserSetting(username: "alice", key: "theme", value: "dark"))
        try await database.saveSetting(UserSetting(username: "alice", key: "tail", value: "500"))
        try await database.saveSetting(UserSetting(username: "bob", key: "theme", value: "system"))
        #expect(try await database.settings(of: "alice") == ["theme": "dark", "tail": "500"])
        #expect(try await database.settings(of: "bob") == ["theme": "system"])
        #expect(try await database.settings(of: "carol") == [:])
    }

    @Test func aChannelsDeliveryLogKeepsItsNewestRowsAndEveryPendingOne() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        let channel = try #require(try await database.saveAlertChannel(
            AlertChannel(name: "hook", kind: .webhook, url: "https://example.com", secret: nil, keyId: nil, createdBy: "t")
        ).id)
        try await database.queueAlertDeliveries([AlertDelivery(channelId: channel, ruleId: nil, message: "{}")], cursor: "5")
        var sent = try #require(try await database.alertDeliveries(channelId: channel).first)
        sent.state = .sent
        try await database.updateAlertDelivery(sent)
        let pending = AlertDelivery(channelId: channel, ruleId: nil, message: "{\"pending\":1}")
        try await database.queueAlertDeliveries([pending], cursor: nil)
        for _ in 0..<(AppDatabase.keptAlertDeliveries + 5) {
            try await database.queueAlertDeliveries([AlertDelivery(channelId: channel, ruleId: nil, message: "{}")], cursor: nil)
            var newest = try #require(try await database.alertDeliveries(channelId: channel, limit: 1).first)
            newest.state = .sent
            try await database.updateAlertDelivery(newest)
        }
        let log = try await database.alertDeliveries(channelId: channel, limit: 5000)
        #expect(!log.contains { $0.id == sent.id }, "the oldest ended one went")
        #expect(log.contains { $0.message == "{\"pending\":1}" }, "a pending one stays whatever its age")
        #expect(log.count <= AppDatabase.keptAlertDeliveries + 1 && log.count >= AppDatabase.keptAlertDeliveries)
        #expect(try await database.alertCursor() == "5")
    }
}

/// After a burst, the database gives back what its caches hold, and goes on as before.
@Suite struct DatabaseMemoryTests {
    /// The bytes of page cache the writer's connection holds.
    static func writerCacheBytes(_ database: AppDatabase) async throws -> Int32 {
        try await database.writer.write { db in
            var current: Int32 = 0
            var highest: Int32 = 0
            sqlite3_db_status(db.sqliteConnection, SQLITE_DBSTATUS_CACHE_USED, &current, &highest, 0)
            return current
        }
    }

    @Test func releasingMemoryEmptiesTheCachesAndLosesNothing() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("berth.sqlite").path)
        let detail = String(repeating: "x", count: 2000)
        for number in 0..<200 {
            _ = try await database.recordAudit(AuditEvent(actor: "alice", action: "container.stop", targetId: "c\(number)", outcome: .error, errorMessage: detail))
        }
        let filled = try await Self.writerCacheBytes(database)
        #expect(filled > 400_000, "the writer's cache held \(filled) bytes")

        database.releaseMemory()
        var emptied = filled
        for _ in 0..<50 where emptied > filled / 4 {
            try await Task.sleep(for: .milliseconds(100))
            emptied = try await Self.writerCacheBytes(database)
        }
        #expect(emptied <= filled / 4, "the writer's cache held \(filled) bytes, then \(emptied)")
        let events = try await database.recentAuditEvents(limit: 500)
        #expect(events.count == 200 && events.allSatisfy { $0.errorMessage == detail })
    }
}
