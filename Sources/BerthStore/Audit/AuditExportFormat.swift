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
        if let first = text.first, "=+-@".contains(first) { text = "'" + text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func jsonString(_ text: String) -> String {
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
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00..<0x20, 0x7F..<0xA0, 0x2028, 0x2029:
                out += String(format: "\\x%02x", scalar.value)
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
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), fraction
        )
    }
}
