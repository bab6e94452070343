import Foundation
import GRDB

/// A search of the audit trail: every filter optional, newest first, one page at a time.
///
/// Pages are keyset-paginated on the id (`before`), never with OFFSET, so the millionth row costs what the first does.
/// A time range is turned into an id range first (time never goes backwards along the ids), so it needs no sort.
public struct AuditQuery: Sendable, Equatable {
    /// Exactly this actor (the pages force it to the signed-in user for non-admins).
    public var actor: String?
    /// Exactly this action verb, such as `container.stop`.
    public var action: String?
    /// A target id (or its prefix of at least 4 characters) or exact name.
    public var target: String?
    public var outcome: AuditEvent.Outcome?
    /// Exactly this engine (its name).
    public var engine: String?
    /// Rows at or after `from` and before `to`.
    public var from: Date?
    public var to: Date?
    /// Free text, matched anywhere in the actor, action, target name, address, parameters and error message.
    public var text: String?
    /// Only rows older than this id: the next page after a page whose last row had this id.
    public var before: Int64?

    public init(
        actor: String? = nil, action: String? = nil, target: String? = nil, outcome: AuditEvent.Outcome? = nil,
        from: Date? = nil, to: Date? = nil, text: String? = nil, before: Int64? = nil, engine: String? = nil
    ) {
        self.engine = engine
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.from = from
        self.to = to
        self.text = text
        self.before = before
    }

    /// The SQL of one page (newest first, `limit` rows) of `auditRow`'s stored columns, or nil when the range is
    /// empty.
    func pageSQL(_ db: Database, limit: Int) throws -> (sql: String, arguments: StatementArguments)? {
        guard let condition = try condition(db) else { return nil }
        let columns = AuditStorage.storedColumns.map { "r.\($0)" }.joined(separator: ", ")
        guard let piece = indexablePiece else {
            return ("SELECT \(columns) FROM auditRow r WHERE \(condition.sql) ORDER BY r.id DESC LIMIT \(limit)", condition.arguments)
        }
        // Driven by the trigram index in descending rowid order, each candidate checked against the row: the page
        // stops at `limit` rows, so a common word costs what a rare one does. The id bounds go to the index too.
        var arguments: StatementArguments = ["%" + piece + "%"]
        var bounds = ""
        if let lower = condition.lower {
            bounds += " AND auditText.rowid >= ?"
            arguments += [lower]
        }
        if let upper = condition.upper {
            bounds += " AND auditText.rowid <= ?"
            arguments += [upper]
        }
        arguments += condition.arguments
        return (
            """
            SELECT \(columns) FROM auditText JOIN auditRow r ON r.id = auditText.rowid
            WHERE auditText.body LIKE ?\(bounds) AND \(condition.sql)
            ORDER BY auditText.rowid DESC LIMIT \(limit)
            """,
            arguments
        )
    }

    /// The longest piece of the free text without LIKE wildcards, when it is long enough for the trigram index (the
    /// index's LIKE has no ESCAPE; the row's own LIKEs then decide exactly).
    var indexablePiece: String? {
        guard let text, let piece = text.split(whereSeparator: { $0 == "%" || $0 == "_" }).max(by: { $0.count < $1.count }),
              piece.count >= 3 else { return nil }
        return String(piece)
    }

    /// The SQL condition on `auditRow r` and its arguments, with the id bounds it holds; nil when the range is empty.
    func condition(_ db: Database) throws -> (sql: String, arguments: StatementArguments, lower: Int64?, upper: Int64?)? {
        var clauses: [String] = []
        var arguments = StatementArguments()
        var upper = before.map { $0 - 1 }
        var lower: Int64?
        if let from {
            guard let first = try AuditTimeline.firstId(db, atOrAfter: from) else { return nil }
            lower = first
        }
        if let to {
            guard let last = try AuditTimeline.lastId(db, before: to) else { return nil }
            upper = min(upper ?? last, last)
        }
        if let lower, let upper, lower > upper { return nil }
        if let lower {
            clauses.append("r.id >= ?")
            arguments += [lower]
        }
        if let upper {
            clauses.append("r.id <= ?")
            arguments += [upper]
        }
        let word = "(SELECT id FROM auditWord WHERE word = ?)"
        for (column, value) in [("actor", actor), ("action", action), ("outcome", outcome?.rawValue), ("engine", engine)] {
            guard let value else { continue }
            clauses.append("r.\(column) = \(word)")
            arguments += [value]
        }
        if let target {
            let idPart: String
            arguments += [target]
            let asciiHex = target.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }
            if target.utf8.count >= 4, asciiHex {
                // An id prefix: ranges on the 6-byte prefix index, so it stays a seek — one over ids stored as text,
                // one over ids stored as their bytes — each candidate then checked whole.
                let hex = target.lowercased()
                let bytes = AuditStorage.packedHex(hex.count % 2 == 0 ? hex : hex + "0") ?? Data()
                var highest = AuditStorage.packedHex(hex.count % 2 == 0 ? hex : hex + "f") ?? Data()
                highest = highest.prefix(6) + Data(repeating: 0xff, count: max(0, 6 - highest.count))
                idPart = """
                    (substr(r.targetId, 1, 6) >= ? AND substr(r.targetId, 1, 6) <= ? AND r.targetId >= ? AND r.targetId < ?)                     OR (substr(r.targetId, 1, 6) >= ? AND substr(r.targetId, 1, 6) <= ?                     AND substr(lower(hex(r.targetId)), 1, \(hex.count)) = ?)
                    """
                arguments += [String(target.prefix(6)), String(target.prefix(6)) + "\u{10FFFF}", target, target + "~"]
                arguments += [Data(bytes.prefix(6)), highest, hex]
            } else {
                idPart = "(substr(r.targetId, 1, 6) = substr(?, 1, 6) AND r.targetId = ?)"
                let stored = AuditStorage.stored(hex: target)
                arguments += [stored, stored]
            }
            clauses.append("(r.targetName = \(word) OR \(idPart))")
        }
        if let text, !text.isEmpty {
            let pattern = "%" + Self.escapeLike(text) + "%"
            clauses.append("(" + Self.freeTextColumns.map { "\(Self.written($0)) LIKE ? ESCAPE '\\'" }.joined(separator: " OR ") + ")")
            for _ in Self.freeTextColumns { arguments += [pattern] }
        }
        return (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), arguments, lower, upper)
    }

    /// A column of `auditRow r` as the text it was written as (a word column through its word).
    static func written(_ column: String) -> String {
        AuditStorage.wordColumns.contains(column) ? "(SELECT word FROM auditWord WHERE id = r.\(column))" : "r.\(column)"
    }

    /// What free text searches: ids are left to the target filter.
    static let freeTextColumns = ["actor", "action", "targetName", "clientAddress", "parameters", "errorMessage"]

    static func escapeLike(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

/// One page of a search: its rows, newest first, and the id to continue from when there are more.
public struct AuditPage: Sendable {
    public var events: [AuditEvent]
    public var nextBefore: Int64?
}

extension AppDatabase {
    /// One page of the search, newest first.
    public func auditEvents(matching query: AuditQuery, limit: Int = 50) async throws -> AuditPage {
        try await writer.read { db in
            guard let page = try query.pageSQL(db, limit: limit + 1) else { return AuditPage(events: [], nextBefore: nil) }
            var events = try AuditRowReader(db).events(sql: page.sql, arguments: page.arguments)
            var next: Int64?
            if events.count > limit {
                events.removeLast()
                next = events.last?.id
            }
            return AuditPage(events: events, nextBefore: next)
        }
    }

    /// Every row of the search, newest first, in batches fetched only when the consumer asks for the next one: a
    /// million rows never sit in memory at once, and a slow reader slows the reads instead of growing a buffer.
    public func auditExport(matching query: AuditQuery, batchSize: Int = 1000) -> AuditExportBatches {
        AuditExportBatches(database: self, query: query, batchSize: batchSize)
    }

    /// Whether a row with this id exists (for links from a row's parameters).
    public func auditEvent(id: Int64) async throws -> AuditEvent? {
        try await writer.read { db in
            try AuditRowReader(db).events(sql: "SELECT \(AuditStorage.selectStored) FROM auditRow WHERE id = ?", arguments: [id]).first
        }
    }
}

/// Where a time falls along the ids. Berth takes each row's time under the write lock, never earlier than the row
/// before, so times never go back along the ids: halving the id range finds a time with no index on it.
enum AuditTimeline {
    /// The first row at or after `date`, or nil when every row is older.
    static func firstId(_ db: Database, atOrAfter date: Date) throws -> Int64? {
        // Rows hold whole milliseconds: at or after `date` is at or after its next whole millisecond. A row's own time
        // comes back as a `Date` a fraction of a microsecond off its millisecond: whole microseconds first.
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let target = Int64((microseconds / 1000).rounded(.up))
        // Two statements: SQLite answers a lone min() or max() from the index, both at once by reading every row.
        guard var low = try Int64.fetchOne(db, sql: "SELECT min(id) FROM auditRow"),
              var high = try Int64.fetchOne(db, sql: "SELECT max(id) FROM auditRow") else { return nil }
        var found: Int64?
        while low <= high {
            let middle = low + (high - low) / 2
            // The first row at or past the middle (retention and gaps leave ids out), its time as stored: the
            // milliseconds, or for a row written otherwise (never by Berth) the text as SQLite reads it as a time.
            guard let row = try Row.fetchOne(db, sql: """
                SELECT id, CASE typeof(time) WHEN 'integer' THEN time
                    ELSE CAST(round((julianday(time) - 2440587.5) * 86400000.0) AS INTEGER) END
                FROM auditRow WHERE id >= ? ORDER BY id LIMIT 1
                """, arguments: [middle]), let id = row[0] as Int64?, id <= high else {
                high = middle - 1
                continue
            }
            if let time = row[1] as Int64?, time >= target {
                found = id
                high = middle - 1
            } else {
                low = id + 1
            }
        }
        return found
    }

    /// The last row before `date`, or nil when none is older.
    static func lastId(_ db: Database, before date: Date) throws -> Int64? {
        if let first = try firstId(db, atOrAfter: date) {
            return try Int64.fetchOne(db, sql: "SELECT max(id) FROM auditRow WHERE id < ?", arguments: [first])
        }
        return try Int64.fetchOne(db, sql: "SELECT max(id) FROM auditRow")
    }
}

/// The batches of an export, pulled one at a time.
public struct AuditExportBatches: AsyncSequence, Sendable {
    public typealias Element = [AuditEvent]
    let database: AppDatabase
    let query: AuditQuery
    let batchSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let database: AppDatabase
        var query: AuditQuery
        let batchSize: Int
        var done = false

        public mutating func next() async throws -> [AuditEvent]? {
            guard !done else { return nil }
            try Task.checkCancellation()
            let page = try await database.auditEvents(matching: query, limit: batchSize)
            if let next = page.nextBefore { query.before = next } else { done = true }
            return page.events.isEmpty ? nil : page.events
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(database: database, query: query, batchSize: batchSize)
    }
}

extension AuditQuery {
    /// Reads a time bound as typed in a form or on the command line, in UTC: `2026-11-23`, `2026-11-23T08:15`,
    /// `2026-11-23 08:15:30`, with an optional `Z` and fraction. Nil when it is none of these.
    public static func parseTime(_ text: String) -> Date? {
        var text = text.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix("Z") || text.hasSuffix("z") { text.removeLast() }
        text = text.replacingOccurrences(of: " ", with: "T")
        let halves = text.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
        let date = halves[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard date.count == 3, let year = date[0], let month = date[1], let day = date[2],
              (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0.0
        if halves.count == 2 {
            let time = halves[1].split(separator: ":", omittingEmptySubsequences: false)
            guard (2...3).contains(time.count), let h = Int(time[0]), let m = Int(time[1]),
                  (0...23).contains(h), (0...59).contains(m) else { return nil }
            hour = h
            minute = m
            if time.count == 3 {
                guard let s = Double(time[2]), (0..<61).contains(s) else { return nil }
                second = s
            }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: 0)
        guard let start = calendar.date(from: components), calendar.component(.day, from: start) == day else { return nil }
        return start.addingTimeInterval(second)
    }
}

extension AuditQuery {
    /// The filters in force, as the parameters of an export's own audit record.
    public func parametersJSON(extra: [String: String] = [:]) -> String {
        var values = extra
        values["actor"] = actor
        values["action"] = action
        values["target"] = target
        values["outcome"] = outcome?.rawValue
        values["engine"] = engine
        values["from"] = from.map(AuditText.timestamp)
        values["to"] = to.map(AuditText.timestamp)
        values["text"] = text
        let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
