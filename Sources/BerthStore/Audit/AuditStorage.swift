import Foundation
import GRDB

/// How an audit row is stored since migration v19, and how Berth reads it back.
///
/// A row is written once and read as the values it was written with — what the hash chain covers — but stored small
/// (issue 24: ten million rows at ≤ 300 bytes each, search included):
/// - texts that repeat (actor, role, address, browser, action, target type and name, engine, outcome) are stored
///   once in `auditWord` and referred to by id;
/// - lowercase hex (request ids, container ids, hashes) is stored as the bytes it spells;
/// - a time Berth wrote (`yyyy-MM-dd HH:mm:ss.SSS`, UTC) as integer milliseconds.
///
/// Any other value is stored as it came, so nothing is ever changed by the encoding: the view `auditEvent` shows the
/// rows with their written values (for `sqlite3` and other tools, and its triggers encode what such tools insert), and
/// `AuditRowReader` decodes the same way in Swift, without a lookup per column in SQL (a test holds the two equal).
enum AuditStorage {
    /// The columns stored as an id into `auditWord`.
    static let wordColumns: Set<String> = [
        "actor", "role", "clientAddress", "userAgent", "action", "targetType", "targetName", "engine", "outcome",
    ]

    /// The columns whose lowercase hex is stored as bytes.
    static let hexColumns: Set<String> = ["requestId", "targetId", "hash"]

    /// The stored columns, in `AuditChain.columns` order with `hash` last.
    static let storedColumns = AuditChain.columns + ["hash"]

    /// `SELECT` list of the stored columns of `auditRow`.
    static let selectStored = storedColumns.map { "\"\($0)\"" }.joined(separator: ", ")

    /// The bytes that lowercase hex of even length spells, or nil for any other text (stored as text).
    static func packedHex(_ text: String) -> Data? {
        let utf8 = text.utf8
        guard utf8.count >= 2, utf8.count % 2 == 0 else { return nil }
        var bytes = Data(capacity: utf8.count / 2)
        var high: UInt8?
        for character in utf8 {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }

    /// What a hex column stores for `value`: its bytes when it is lowercase hex, else the value as it is.
    static func stored(hex value: String?) -> DatabaseValue {
        guard let value else { return .null }
        return packedHex(value).map(\.databaseValue) ?? value.databaseValue
    }

    /// The SQL function the v19 migration packs existing hex with (SQLite 3.40 has no `unhex`): the bytes, or NULL
    /// when the value is not lowercase hex text.
    static let packHexFunction = DatabaseFunction("berth_audit_pack_hex", argumentCount: 1, pure: true) { values in
        guard case .string(let text) = values[0].storage else { return nil }
        return packedHex(text)
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    static func hex(_ bytes: Data) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { characters in
            bytes.withUnsafeBytes { raw in
                for (index, byte) in raw.enumerated() {
                    characters[2 * index] = hexDigits[Int(byte >> 4)]
                    characters[2 * index + 1] = hexDigits[Int(byte & 0x0f)]
                }
            }
            return bytes.count * 2
        }
    }

    /// The milliseconds that are times of years 0000–9999, which `timeText` writes (and the view's `strftime`): any
    /// other number in the time column (only a tool can put one there) is shown as the number it is.
    static let timeRange: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// `yyyy-MM-dd HH:mm:ss.SSS` in UTC, the form GRDB stores a `Date` in, from milliseconds since 1970 within
    /// `timeRange`.
    static func timeText(milliseconds: Int64) -> String {
        let (days, dayMilliseconds) = milliseconds.quotientAndRemainderFlooring(dividingBy: 86_400_000)
        let (year, month, day) = civilDate(daysSince1970: days)
        var text = [UInt8]()
        text.reserveCapacity(23)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); text.append(UInt8(ascii: "-"))
        digits(month, 2); text.append(UInt8(ascii: "-"))
        digits(day, 2); text.append(UInt8(ascii: " "))
        digits(dayMilliseconds / 3_600_000, 2); text.append(UInt8(ascii: ":"))
        digits(dayMilliseconds / 60_000 % 60, 2); text.append(UInt8(ascii: ":"))
        digits(dayMilliseconds / 1000 % 60, 2); text.append(UInt8(ascii: "."))
        digits(dayMilliseconds % 1000, 3)
        return String(decoding: text, as: UTF8.self)
    }

    /// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civilDate(daysSince1970: Int64) -> (Int64, Int64, Int64) {
        let z = daysSince1970 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Milliseconds since 1970 of a `Date` Berth writes (already whole milliseconds).
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }
}

private extension Int64 {
    func quotientAndRemainderFlooring(dividingBy divisor: Int64) -> (Int64, Int64) {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}

/// Reads stored audit rows back as the values they were written with, resolving word ids once each (a reader lives
/// for one read: a walk of the whole chain asks for each of a few thousand words once, not ten million times).
final class AuditRowReader {
    private var words: [Int64: DatabaseValue] = [:]
    private let db: Database

    /// How each stored column is encoded, in `AuditStorage.storedColumns` order.
    enum Encoding {
        case time, word, hex, plain

        init(_ column: String) {
            self = column == "time" ? .time
                : AuditStorage.wordColumns.contains(column) ? .word
                : AuditStorage.hexColumns.contains(column) ? .hex : .plain
        }
    }

    static let encodings = AuditStorage.storedColumns.map(Encoding.init)

    init(_ db: Database) {
        self.db = db
    }

    /// The written values of a row of `SELECT AuditStorage.selectStored FROM auditRow`, in that order.
    func values(_ row: Row) throws -> [DatabaseValue] {
        var values = [DatabaseValue]()
        values.reserveCapacity(Self.encodings.count)
        for (index, encoding) in Self.encodings.enumerated() {
            values.append(try value(row[index], encoding))
        }
        return values
    }

    /// The written value of one stored column.
    func value(_ stored: DatabaseValue, column: String) throws -> DatabaseValue {
        try value(stored, Encoding(column))
    }

    private func value(_ stored: DatabaseValue, _ encoding: Encoding) throws -> DatabaseValue {
        switch (stored.storage, encoding) {
        case (.int64(let number), .time) where AuditStorage.timeRange.contains(number):
            return AuditStorage.timeText(milliseconds: number).databaseValue
        case (.int64(let id), .word):
            return try word(id)
        case (.blob(let bytes), .hex):
            return AuditStorage.hex(bytes).databaseValue
        default:
            // A word column's id that is not an integer cannot come from the encoding: shown as stored.
            return stored
        }
    }

    private func word(_ id: Int64) throws -> DatabaseValue {
        if let known = words[id] { return known }
        let statement = try db.cachedStatement(sql: "SELECT word FROM auditWord WHERE id = ?")
        let value = try DatabaseValue.fetchOne(statement, arguments: [id]) ?? .null
        words[id] = value
        return value
    }

    /// The events of `sql`, a query whose columns are `AuditStorage.selectStored` of `auditRow`.
    func events(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [AuditEvent] {
        var events: [AuditEvent] = []
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() { events.append(try event(values(row))) }
        return events
    }

    /// An event of written values, in `AuditStorage.storedColumns` order. A value Berth never writes (a number where
    /// it writes text, a time it cannot read) is shown as it is rather than hiding the row: verification names it.
    func event(_ values: [DatabaseValue]) throws -> AuditEvent {
        func text(_ index: Int) -> String? {
            switch values[index].storage {
            case .null: nil
            case .string(let text): text
            case .int64(let number): String(number)
            case .double(let number): String(number)
            case .blob(let bytes): AuditStorage.hex(bytes)
            }
        }
        // A time outside years 0000–9999 (only a tool can write one) is shown as 1970 rather than one no page can print.
        let time = Date.fromDatabaseValue(values[1]).flatMap { date in
            Int64(exactly: (date.timeIntervalSince1970 * 1000).rounded(.down)).map(AuditStorage.timeRange.contains) == true ? date : nil
        }
        var event = AuditEvent(
            time: time ?? Date(timeIntervalSince1970: 0), requestId: text(2), actor: text(3) ?? "",
            role: text(4), clientAddress: text(5), userAgent: text(6), action: text(7) ?? "", targetType: text(8),
            targetId: text(9), targetName: text(10), engine: text(11), parameters: text(12),
            outcome: text(13).flatMap(AuditEvent.Outcome.init(rawValue:)) ?? .error, errorMessage: text(14),
            durationMs: Int.fromDatabaseValue(values[15])
        )
        event.id = Int64.fromDatabaseValue(values[0])
        event.hash = text(16)
        return event
    }
}
