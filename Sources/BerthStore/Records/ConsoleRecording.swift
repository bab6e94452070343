import CompressNIO
import Crypto
import Foundation
import GRDB
import NIOCore

/// A console session's recording: asciicast v2 text kept as compressed chunks (`consoleChunk`), its SHA-256 set when
/// the session ends. The audit rows of the session name its id and hash.
public struct ConsoleRecording: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    public var actor: String
    public var container: String
    public var containerName: String
    public var startedAt: Date
    public var endedAt: Date?
    /// Uncompressed size of the asciicast text.
    public var bytes: Int
    /// The recording stopped at `--console-record-max`; the text ends with a marker that says so.
    public var truncated: Bool
    public var sha256: String?

    public init(actor: String, container: String, containerName: String, startedAt: Date = Date()) {
        self.actor = actor
        self.container = container
        self.containerName = containerName
        self.startedAt = startedAt
        self.bytes = 0
        self.truncated = false
    }
}

extension ConsoleRecording: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "consoleRecording"

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let actor = Column(CodingKeys.actor)
        public static let startedAt = Column(CodingKeys.startedAt)
    }
}

/// What checking a recording against the hash its closing audit row holds found.
public struct ConsoleRecordingCheck: Sendable, Equatable {
    /// The recording.
    public let id: Int64
    /// The `console.close` row that names it.
    public let auditRowId: Int64
    /// Nil when the recording is intact; else what is wrong.
    public let problem: String?
}

extension AppDatabase {
    /// Starts a recording; returns it with its id.
    public func createConsoleRecording(_ recording: ConsoleRecording) async throws -> ConsoleRecording {
        try await writer.write { db in
            var recording = recording
            try recording.insert(db)
            return recording
        }
    }

    /// Appends a piece of a recording's text, compressed on its own (a chunk can be read without the ones before it).
    public func appendConsoleChunk(recordingId: Int64, seq: Int, text: ByteBuffer) async throws {
        var text = text
        let compressed = try text.compress(with: .zlib())
        let data = Data(compressed.readableBytesView)
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO consoleChunk (recordingId, seq, data) VALUES (?, ?, ?)", arguments: [recordingId, seq, data]
            )
        }
    }

    /// Ends a recording: its size, hash, and whether it was cut.
    public func finishConsoleRecording(id: Int64, bytes: Int, sha256: String, truncated: Bool, endedAt: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE consoleRecording SET bytes = ?, sha256 = ?, truncated = ?, endedAt = ? WHERE id = ?",
                arguments: [bytes, sha256, truncated, endedAt, id]
            )
        }
    }

    public func consoleRecording(id: Int64) async throws -> ConsoleRecording? {
        try await writer.read { db in try ConsoleRecording.fetchOne(db, key: id) }
    }

    /// A recording's text, uncompressed, chunk by chunk in order.
    public func consoleRecordingText(id: Int64) async throws -> Data {
        try await writer.read { db in
            var text = Data()
            let chunks = try Row.fetchCursor(db, sql: "SELECT data FROM consoleChunk WHERE recordingId = ? ORDER BY seq", arguments: [id])
            while let row = try chunks.next() {
                text.append(try Self.decompressChunk(row["data"]))
            }
            return text
        }
    }

    /// Recomputes the hash of every recording a `console.close` audit row names and compares it with the hash in that
    /// row. The row is part of the hash chain (`verifyAuditChain`); the recording's own `sha256` column is not trusted,
    /// since whoever rewrites the text could rewrite it too.
    public func verifyConsoleRecordings() async throws -> [ConsoleRecordingCheck] {
        try await writer.read { db in
            var checks: [ConsoleRecordingCheck] = []
            // A file Berth has not converted yet (v19) is read as it was stored.
            let rows = try Row.fetchCursor(
                db, sql: try db.tableExists("auditRow") ? """
                    SELECT id, parameters FROM auditRow WHERE action = (SELECT id FROM auditWord WHERE word = ?)
                    AND parameters IS NOT NULL ORDER BY id
                    """ : "SELECT id, parameters FROM auditEvent WHERE action = ? AND parameters IS NOT NULL ORDER BY id",
                arguments: [AuditAction.consoleClose.rawValue]
            )
            while let row = try rows.next() {
                let rowId: Int64 = row["id"]
                let text: String = row["parameters"]
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String],
                      let id = object["recording"].flatMap(Int64.init), let expected = object["recordingSha256"]
                else { continue }
                var hash = SHA256()
                var bytes = 0
                var problem: String?
                if try ConsoleRecording.fetchOne(db, key: id) == nil {
                    problem = "recording #\(id) is missing"
                } else {
                    let chunks = try Row.fetchCursor(
                        db, sql: "SELECT data FROM consoleChunk WHERE recordingId = ? ORDER BY seq", arguments: [id]
                    )
                    do {
                        while let chunk = try chunks.next() {
                            let text = try Self.decompressChunk(chunk["data"])
                            bytes += text.count
                            hash.update(data: text)
                        }
                        let digest = hash.finalize().map { String(format: "%02x", $0) }.joined()
                        if digest != expected {
                            problem = "recording #\(id) does not match its hash in audit row #\(rowId) (its \(bytes) bytes hash to \(digest.prefix(12))…, the row says \(expected.prefix(12))…)"
                        }
                    } catch {
                        problem = "recording #\(id) cannot be read (\(error))"
                    }
                }
                checks.append(ConsoleRecordingCheck(id: id, auditRowId: rowId, problem: problem))
            }
            return checks
        }
    }

    private static func decompressChunk(_ data: Data?) throws -> Data {
        guard let data else { return Data() }
        var buffer = ByteBuffer(bytes: data)
        let text = try buffer.decompress(with: .zlib())
        return Data(text.readableBytesView)
    }
}
