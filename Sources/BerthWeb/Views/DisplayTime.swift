import BerthStore
import Foundation

/// A moment as the signed-in user asked to see it: UTC or local, absolute or relative, in their date format.
///
/// The server renders UTC (it does not know the browser's zone); for "local", `time.js` rewrites the text from the
/// `datetime` attribute in the browser. Without script the UTC text stays, marked as UTC.
struct DisplayTime: Sendable {
    /// ISO 8601 in UTC, for `<time datetime>`.
    let iso: String
    /// What the page shows.
    let text: String
    /// The absolute time, for a tooltip when `text` is relative.
    let absolute: String

    init(_ date: Date, preferences: UserPreferences, now: Date = Date()) {
        iso = AuditText.timestamp(date)
        absolute = Self.absolute(date, format: preferences.dateFormat)
        text = preferences.timeStyle == .relative ? Self.relative(date, now: now) : absolute
    }

    /// Parses the engine's RFC 3339 times (nanoseconds, `Z`); nil for the zero time the engine uses for "never".
    init?(engineTime text: String?, preferences: UserPreferences) {
        guard let text, text.count >= 19, !text.hasPrefix("0001-"),
              let date = AuditQuery.parseTime(String(text.prefix(19))) else { return nil }
        self.init(date, preferences: preferences)
    }

    static func absolute(_ date: Date, format: UserPreferences.DateFormat) -> String {
        let iso = AuditText.timestamp(date)  // 2026-11-23T08:41:07.125Z
        let year = iso.prefix(4), month = iso.dropFirst(5).prefix(2), day = iso.dropFirst(8).prefix(2)
        let clock = iso.dropFirst(11).prefix(8)
        let dayPart: String
        switch format {
        case .iso: dayPart = "\(year)-\(month)-\(day)"
        case .european: dayPart = "\(day).\(month).\(year)"
        case .american: dayPart = "\(month)/\(day)/\(year)"
        }
        return "\(dayPart) \(clock) UTC"
    }

    static func relative(_ date: Date, now: Date) -> String {
        let seconds = Int(now.timeIntervalSince(date).rounded())
        if seconds < 0 { return "in the future" }
        switch seconds {
        case 0..<10: return "just now"
        case 10..<60: return "\(seconds) s ago"
        case 60..<3600: return "\(seconds / 60) min ago"
        case 3600..<86_400: return "\(seconds / 3600) h ago"
        default: return "\(seconds / 86_400) d ago"
        }
    }
}
