import Foundation
import GRDB

/// Berth's SQLite database: owns the connection pool and the schema, and offers intention-named reads and writes.
///
/// Follows GRDB's `AppDatabase` pattern: the migrator runs once when the database is opened, and nothing outside this
/// module writes SQL.
public struct AppDatabase: Sendable {
    /// The pool (WAL mode: readers never wait for the writer).
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    public static func open(path: String) throws(StoreError) -> AppDatabase {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "cannot create its folder: \(error.localizedDescription)")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration())
            return try AppDatabase(pool)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreError.cannotOpen(path: path, reason: error.message ?? error.description)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// Wraps an existing writer (a pool, or an in-memory queue in tests) and migrates it.
    public init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
    }

    /// The connection settings every Berth database uses.
    public static func configuration() -> Configuration {
        var configuration = Configuration()
        // GRDB's default is to fail at once when another connection holds the lock.
        configuration.busyMode = .timeout(5)
        configuration.foreignKeysEnabled = true
        return configuration
    }

    /// Answers whether the database can be read, for `/healthz`.
    public func isHealthy() async -> Bool {
        do {
            let one: Int? = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            return one == 1
        } catch {
            return false
        }
    }

    /// The SQLite journal mode in force (`wal` for a file database).
    public func journalMode() async throws -> String {
        try await writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// The names of the applied migrations, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await writer.read { db in try Self.migrator.appliedMigrations(db) }
    }
}

/// A database that cannot be used, with a message that names the way out.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open the database at \(path): \(reason) (choose another path with --database or BERTH_DATABASE)"
        }
    }
}

extension AppDatabase {
    /// Takes and releases the write lock: throws when a write would fail now (locked past the busy timeout, read-only
    /// file). Actions that must be audited ask this first, so that they fail closed.
    public func checkWritable() async throws {
        try await writer.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) { .rollback }
        }
    }
}
