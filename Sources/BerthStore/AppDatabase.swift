import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
            // GRDB runs WAL databases with synchronous=NORMAL, where a commit can be lost to a power cut. Every write
            // of Berth's is small and the audit trail must survive: the one writer connection syncs each commit.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            return try AppDatabase(pool)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreError.cannotOpen(path: path, reason: error.message ?? error.description)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// Opens a database file for reading only, as it is: no migration, nothing written (`berth audit verify` checks
    /// what is there, and works on a read-only copy).
    public static func openReadOnly(path: String) throws(StoreError) -> AppDatabase {
        var configuration = configuration()
        configuration.readonly = true
        do {
            return AppDatabase(unmigrated: try DatabaseQueue(path: path, configuration: configuration))
        } catch {
            throw StoreError.cannotOpen(path: path, reason: (error as? DatabaseError)?.message ?? "\(error)")
        }
    }

    private init(unmigrated writer: any DatabaseWriter) {
        self.writer = writer
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

    /// Gives back what SQLite's caches hold (pages read, prepared statements), without waiting: idle reader
    /// connections close (they open again when next needed) and the writer empties its cache. For after a burst (a
    /// flood of streams, each with its audit row, filled every connection's page cache), before the allocator is
    /// trimmed: those pages, scattered among what the burst freed, kept whole heap pages from going back.
    public func releaseMemory() {
        (writer as? DatabasePool)?.releaseMemoryEventually()
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
    case backupFailed(path: String, reason: String)
    case retentionRefused(reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open the database at \(path): \(reason) (choose another path with --database or BERTH_DATABASE)"
        case .backupFailed(let path, let reason):
            return "cannot back up to \(path): \(reason)"
        case .retentionRefused(let reason):
            return "audit retention removed nothing: \(reason); run berth audit verify"
        }
    }
}

extension AppDatabase {
    /// Commits a one-row write: throws when a write fails now (locked past the busy timeout, read-only file, full
    /// disk). Actions that must be audited ask this first, so that they fail closed.
    public func checkWritable() async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO auditWriteProbe (id, checkedAt) VALUES (1, ?)", arguments: [Date()])
        }
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    public func writerSynchronousMode() async throws -> Int {
        try await writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Copies the live database to `path` with SQLite's online backup: readers and writers go on meanwhile, and the
    /// copy is a consistent snapshot. Refuses to overwrite an existing file.
    public func backup(to path: String) async throws {
        // Created here, exclusively and readable by the owner only: the copy holds session tokens.
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "the file exists; choose a new name" : String(cString: strerror(errno))
            throw StoreError.backupFailed(path: path, reason: reason)
        }
        Glibc.close(descriptor)
        do {
            let destination = try DatabaseQueue(path: path)
            try await writer.read { db in
                try destination.writeWithoutTransaction { destinationDb in
                    try db.backup(to: destinationDb)
                }
            }
            try destination.close()
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw StoreError.backupFailed(path: path, reason: (error as? DatabaseError)?.message ?? "\(error)")
        }
    }
}
