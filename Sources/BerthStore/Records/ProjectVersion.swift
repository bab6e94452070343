import Crypto
import Foundation
import GRDB

/// One saved state of a compose project's files: every save is a version (never changed afterwards), so any two can
/// be compared and any earlier one deployed again.
public struct ProjectVersion: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var project: String
    /// 1, 2, … within the project.
    public var number: Int
    public var composeFile: String
    /// The `.env` file; empty when the project has none.
    public var envFile: String
    /// SHA-256 of both files, as the audit trail names the version.
    public var contentHash: String
    public var author: String
    public var message: String
    public var createdAt: Date

    public init(project: String, number: Int, composeFile: String, envFile: String, author: String, message: String, createdAt: Date = Date()) {
        self.project = project
        self.number = number
        self.composeFile = composeFile
        self.envFile = envFile
        self.author = author
        self.message = message
        self.createdAt = createdAt
        contentHash = Self.hash(composeFile: composeFile, envFile: envFile)
    }

    public static func hash(composeFile: String, envFile: String) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(composeFile.utf8))
        hasher.update(data: Data([0]))
        hasher.update(data: Data(envFile.utf8))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

extension ProjectVersion: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "projectVersion"

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

extension AppDatabase {
    /// A save that was based on another version than the latest (someone saved meanwhile).
    public struct StaleVersion: Error, Sendable {
        public let latest: ProjectVersion?
    }

    /// Saves the files as the project's next version; nil (nothing saved) when they are the latest version's already.
    /// - Parameters:
    ///   - expectedLatest: the version the files were edited from (0: a new project); another latest throws
    ///     `StaleVersion`, checked in the same transaction as the save.
    ///   - beforeCommit: runs in the transaction with the new version (writes its files); if it throws, nothing is
    ///     saved.
    public func saveProjectVersion(
        project: String, composeFile: String, envFile: String, author: String, message: String, expectedLatest: Int? = nil,
        beforeCommit: @escaping @Sendable (ProjectVersion) throws -> Void = { _ in }
    ) async throws -> ProjectVersion? {
        try await writer.write { db in
            let latest = try ProjectVersion.filter(Column("project") == project).order(Column("number").desc).fetchOne(db)
            if let expectedLatest, (latest?.number ?? 0) != expectedLatest { throw StaleVersion(latest: latest) }
            if latest?.contentHash == ProjectVersion.hash(composeFile: composeFile, envFile: envFile) { return nil }
            var version = ProjectVersion(
                project: project, number: (latest?.number ?? 0) + 1, composeFile: composeFile, envFile: envFile, author: author, message: message
            )
            try version.insert(db)
            try beforeCommit(version)
            return version
        }
    }

    /// A project's versions, newest first, without their files (empty strings): what a list of them shows.
    public func projectVersionSummaries(_ project: String) async throws -> [ProjectVersion] {
        try await writer.read { db in
            try ProjectVersion.fetchAll(
                db,
                sql: """
                    SELECT id, project, number, '' AS composeFile, '' AS envFile, contentHash, author, message, createdAt
                    FROM projectVersion WHERE project = ? ORDER BY number DESC
                    """,
                arguments: [project]
            )
        }
    }

    /// A project's newest version.
    public func latestProjectVersion(_ project: String) async throws -> ProjectVersion? {
        try await writer.read { db in
            try ProjectVersion.filter(Column("project") == project).order(Column("number").desc).fetchOne(db)
        }
    }

    /// A project's versions, newest first.
    public func projectVersions(_ project: String) async throws -> [ProjectVersion] {
        try await writer.read { db in
            try ProjectVersion.filter(Column("project") == project).order(Column("number").desc).fetchAll(db)
        }
    }

    public func projectVersion(_ project: String, number: Int) async throws -> ProjectVersion? {
        try await writer.read { db in
            try ProjectVersion.filter(Column("project") == project && Column("number") == number).fetchOne(db)
        }
    }

    /// Forgets a project: every version of it; how many there were.
    @discardableResult
    public func deleteProjectVersions(_ project: String) async throws -> Int {
        try await writer.write { db in
            try ProjectVersion.filter(Column("project") == project).deleteAll(db)
        }
    }

    /// Every project with its newest version.
    public func latestProjectVersions() async throws -> [ProjectVersion] {
        try await writer.read { db in
            try ProjectVersion.fetchAll(
                db, sql: "SELECT * FROM projectVersion v WHERE number = (SELECT MAX(number) FROM projectVersion WHERE project = v.project) ORDER BY project"
            )
        }
    }
}
