import Foundation

/// How audit rows leave the database: CSV for spreadsheets, NDJSON for tools. Both neutralise what a name or message
/// could smuggle into a reader's terminal or spreadsheet.
public enum AuditExportFormat: String, Sendable, CaseIterable {
    case csv
    case ndjson

    public var contentType: String {
        switch self {
        case .csv: "text/csv; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        }
    }

    static let fields = [
        "id", "time", "requestId", "actor", "role", "clientAddress", "userAgent", "action", "targetType", "targetId",
        "targetName", "engine", "parameters", "outcome", "errorMessage", "durationMs", "hash",
    ]

    /// The first line of the file, if the format has one.
    public var header: String? {
        switch self {
        case .csv: Self.fields.joined(separator: ",") + "\r\n"
        case .ndjson: nil
        }
    }

    /// One row as a line of the format, line ending included.
    public func line(_ event: AuditEvent) -> String {
        let values = Self.values(event)
        switch self {
        case .csv:
            return values.map { Self.csvCell($0.1) }.joined(separator: ",") + "\r\n"
        case .ndjson:
            let members = values.map { name, value -> String in
                let json: String
                switch value {
                case nil: json = "null"
                case .some(let text) where name == "id" || name == "durationMs": json = text
                case .some(let text): json = Self.jsonString(AuditText.neutralised(text))
                }
                return "\"\(name)\":\(json)"
            }
            return "{" + members.joined(separator: ",") + "}\n"
        }
    }

    static func values(_ event: AuditEvent) -> [(String, String?)] {
        [
            ("id", event.id.map(String.init)), ("time", AuditText.timestamp(event.time)), ("requestId", event.requestId),
            ("actor", event.actor), ("role", event.role), ("clientAddress", event.clientAddress),
            ("userAgent", event.userAgent), ("action", event.action), ("targetType", event.targetType),
            ("targetId", event.targetId), ("targetName", event.targetName), ("engine", event.engine),
            ("parameters", event.parameters), ("outcome", event.outcome.rawValue), ("errorMessage", event.errorMessage),
            ("durationMs", event.durationMs.map(String.init)), ("hash", event.hash),
        ]
    }

    /// A quoted cell. A cell that a spreadsheet would read as a formula gets a leading apostrophe.
    static func csvCell(_ value: String?) -> String {
        guard var text = value.map(AuditText.neutralised) else { return "" }
        if let first = text.utf8.first, first == 0x3D || first == 0x2B || first == 0x2D || first == 0x40 { text = "'" + text }
        guard text.utf8.contains(0x22) else { return "\"" + text + "\"" }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func jsonString(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Text from the trail made safe to show: stored as it came, shown without its control characters.
public enum AuditText {
    /// Newlines, tabs, escape (ANSI sequences) and every other C0/C1 control character become visible escapes such
    /// as `\n` and `\x1b`, so that a container named with a newline cannot forge a second row in an export and a
    /// message cannot recolour an auditor's terminal.
    public static func neutralised(_ text: String) -> String {
        // Most text has nothing to neutralise: C0 controls and DEL are single bytes below 0x20 or 0x7F, C1 controls
        // are 0xC2 0x80…0x9F, the line and paragraph separators 0xE2 0x80 0xA8/0xA9.
        var clean = true
        var previous: (UInt8, UInt8) = (0, 0)
        for byte in text.utf8 {
            // Also the backslash (so that an escape can't be faked) and, after E2 80 / E2 81, the zero-width and
            // bidirectional controls that reorder what a reader sees.
            if byte < 0x20 || byte == 0x7F || byte == 0x5C || (previous.1 == 0xC2 && byte < 0xA0 && byte >= 0x80)
                || (previous.1 == 0xE2 && (byte == 0x80 || byte == 0x81)) {
                clean = false
                break
            }
            previous = (previous.1, byte)
        }
        if clean { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00..<0x20, 0x7F..<0xA0:
                out += String(format: "\\x%02x", scalar.value)
            case 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069:
                out += String(format: "\\u%04x", scalar.value)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// UTC with milliseconds, as in `2026-11-23T08:41:07.125Z`.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        var fraction = Int(milliseconds % 1000)
        if fraction < 0 {
            fraction += 1000
            seconds -= 1
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Built digit by digit: this runs for every row of an export.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(48 + (rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); bytes.append(0x2D)
        digits(Int(parts.tm_mon) + 1, 2); bytes.append(0x2D)
        digits(Int(parts.tm_mday), 2); bytes.append(0x54)
        digits(Int(parts.tm_hour), 2); bytes.append(0x3A)
        digits(Int(parts.tm_min), 2); bytes.append(0x3A)
        digits(Int(parts.tm_sec), 2); bytes.append(0x2E)
        digits(fraction, 3); bytes.append(0x5A)
        return String(decoding: bytes, as: UTF8.self)
    }
}
