import Foundation
import GRDB

/// A job's row: what it is, who started it, how far it got and how it ended. The web app keeps the live job in
/// memory and writes this row at each change of state.
public struct JobRecord: Codable, Sendable, Equatable, Identifiable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case queued, running, succeeded, failed, cancelled
        /// Berth stopped while the job was queued or running.
        case interrupted

        public var isFinal: Bool { self != .queued && self != .running }
    }

    public var id: Int64?
    /// What kind of work (`image.pull`, …): it decides who may see the job.
    public var kind: String
    public var title: String
    /// What it works on (an image reference).
    public var target: String?
    public var owner: String
    public var state: State
    public var createdAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    /// How it ended, in words (the registry's message, who cancelled it).
    public var message: String?
    /// The last progress snapshot, JSON.
    public var progress: String?
    /// The last lines of its log, one per line.
    public var log: String?
    /// The engine it works on, by name; nil for a job of no engine.
    public var engine: String?

    /// Its log as lines (none before it ended).
    public var logLines: [String] { log.map { $0.split(separator: "\n").map(String.init) } ?? [] }

    public init(
        kind: String, title: String, target: String? = nil, owner: String, state: State = .queued, createdAt: Date = Date(), engine: String? = nil
    ) {
        self.engine = engine
        self.kind = kind
        self.title = title
        self.target = target
        self.owner = owner
        self.state = state
        self.createdAt = createdAt
    }
}

extension JobRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "job"

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

extension AppDatabase {
    /// How many ended jobs are kept: the oldest beyond go when a new one is added. Their audit rows stay.
    public static let keptJobs = 1000

    /// Adds a job; returns it with its id.
    public func createJob(_ job: JobRecord) async throws -> JobRecord {
        try await writer.write { db in
            var job = job
            try job.insert(db)
            try db.execute(
                sql: """
                    DELETE FROM job WHERE state NOT IN ('queued', 'running')
                    AND id <= (SELECT id FROM job ORDER BY id DESC LIMIT 1 OFFSET ?)
                    """,
                arguments: [Self.keptJobs]
            )
            return job
        }
    }

    public func updateJob(_ job: JobRecord) async throws {
        try await writer.write { db in try job.update(db) }
    }

    public func job(id: Int64) async throws -> JobRecord? {
        try await writer.read { db in try JobRecord.fetchOne(db, key: id) }
    }

    /// The newest jobs first, without their logs and progress (a list shows neither).
    public func recentJobs(limit: Int = 200) async throws -> [JobRecord] {
        try await writer.read { db in
            try JobRecord.fetchAll(
                db, sql: """
                    SELECT id, kind, title, target, owner, state, createdAt, startedAt, endedAt, message, NULL AS progress, NULL AS log
                    FROM job ORDER BY id DESC LIMIT ?
                    """,
                arguments: [limit]
            )
        }
    }

    /// Marks the jobs an earlier process left queued or running as interrupted; returns how many. Called at start,
    /// before this process starts any job.
    @discardableResult
    public func interruptLeftoverJobs(message: String, at time: Date = Date()) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE job SET state = 'interrupted', endedAt = ?, message = ? WHERE state IN ('queued', 'running')",
                arguments: [time, message]
            )
            return db.changesCount
        }
    }
}
