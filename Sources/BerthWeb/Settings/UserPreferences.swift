import BerthStore
import Foundation
import NIOConcurrencyHelpers

/// One unix user's settings, with their defaults. Stored one row per key; a stored value that is no longer valid
/// falls back to the default instead of breaking the page.
public struct UserPreferences: Sendable, Equatable {
    public enum Theme: String, Sendable, CaseIterable { case system, light, dark }
    public enum ContainerFilter: String, Sendable, CaseIterable { case running, all }
    public enum TimeZoneChoice: String, Sendable, CaseIterable { case local, utc }
    public enum TimeStyle: String, Sendable, CaseIterable { case absolute, relative }
    public enum DateFormat: String, Sendable, CaseIterable {
        case iso = "yyyy-mm-dd"
        case european = "dd.mm.yyyy"
        case american = "mm/dd/yyyy"
    }

    public var theme = Theme.system
    /// Lines the log viewer shows first; nil means the whole log.
    public var logTailLines: Int? = 500
    public var logTimestamps = false
    public var logWrap = true
    public var containerFilter = ContainerFilter.running
    public var timeZone = TimeZoneChoice.local
    public var timeStyle = TimeStyle.absolute
    public var dateFormat = DateFormat.iso

    public static let maxTailLines = 100_000

    public init() {}

    enum Key: String, CaseIterable {
        case theme, logTailLines = "log.tail", logTimestamps = "log.timestamps", logWrap = "log.wrap"
        case containerFilter = "containers.filter", timeZone = "time.zone", timeStyle = "time.style"
        case dateFormat = "time.dateFormat"
    }

    /// From stored rows; unknown keys and invalid values are ignored.
    init(stored: [String: String]) {
        if let value = stored[Key.theme.rawValue].flatMap(Theme.init) { theme = value }
        if let text = stored[Key.logTailLines.rawValue] { logTailLines = (try? Self.parseTail(text)) ?? logTailLines }
        if let value = stored[Key.logTimestamps.rawValue] { logTimestamps = value == "1" }
        if let value = stored[Key.logWrap.rawValue] { logWrap = value == "1" }
        if let value = stored[Key.containerFilter.rawValue].flatMap(ContainerFilter.init) { containerFilter = value }
        if let value = stored[Key.timeZone.rawValue].flatMap(TimeZoneChoice.init) { timeZone = value }
        if let value = stored[Key.timeStyle.rawValue].flatMap(TimeStyle.init) { timeStyle = value }
        if let value = stored[Key.dateFormat.rawValue].flatMap(DateFormat.init) { dateFormat = value }
    }

    /// What is stored, one value per key.
    var stored: [String: String] {
        [
            Key.theme.rawValue: theme.rawValue,
            Key.logTailLines.rawValue: logTailLines.map(String.init) ?? "all",
            Key.logTimestamps.rawValue: logTimestamps ? "1" : "0",
            Key.logWrap.rawValue: logWrap ? "1" : "0",
            Key.containerFilter.rawValue: containerFilter.rawValue,
            Key.timeZone.rawValue: timeZone.rawValue,
            Key.timeStyle.rawValue: timeStyle.rawValue,
            Key.dateFormat.rawValue: dateFormat.rawValue,
        ]
    }

    /// The settings form, read field by field: every field that can't be used gets its own message and nothing is
    /// saved unless all are good.
    static func parse(_ form: FormFields) -> (preferences: UserPreferences, errors: FieldErrors) {
        var preferences = UserPreferences()
        var errors = FieldErrors()
        func choice<T: RawRepresentable & CaseIterable>(_ field: String, _ label: String, _: T.Type) -> T? where T.RawValue == String {
            let text = form[field] ?? ""
            guard let value = T(rawValue: text) else {
                let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
                errors[field] = "\(label) must be one of \(allowed); “\(Self.shown(text))” is not."
                return nil
            }
            return value
        }
        if let value = choice("theme", "Theme", Theme.self) { preferences.theme = value }
        if let value = choice("containerFilter", "Container list", ContainerFilter.self) { preferences.containerFilter = value }
        if let value = choice("timeZone", "Time zone", TimeZoneChoice.self) { preferences.timeZone = value }
        if let value = choice("timeStyle", "Time style", TimeStyle.self) { preferences.timeStyle = value }
        if let value = choice("dateFormat", "Date format", DateFormat.self) { preferences.dateFormat = value }
        do {
            preferences.logTailLines = try parseTail(form["logTailLines"] ?? "")
        } catch {
            errors["logTailLines"] = error.message
        }
        preferences.logTimestamps = form.isChecked("logTimestamps")
        preferences.logWrap = form.isChecked("logWrap")
        return (preferences, errors)
    }

    struct InvalidTail: Error { let message: String }

    static func parseTail(_ text: String) throws(InvalidTail) -> Int? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "all" { return nil }
        guard let number = Int(text), (1...maxTailLines).contains(number) else {
            throw InvalidTail(message: "Log lines must be a whole number from 1 to \(maxTailLines), or “all”; “\(shown(text))” is not.")
        }
        return number
    }

    /// A typed value quoted back in a message, cut short.
    static func shown(_ text: String) -> String {
        let cut = text.prefix(40)
        return AuditText.neutralised(String(cut)) + (text.count > 40 ? "…" : "")
    }
}

/// A message per form field.
typealias FieldErrors = [String: String]

/// The settings of every user, read from SQLite once and kept while the server runs. Only Berth writes them, through
/// `save`, so the copy never goes stale.
final class PreferencesStore: Sendable {
    let database: AppDatabase
    private let cache = NIOLockedValueBox<[String: UserPreferences]>([:])

    init(database: AppDatabase) {
        self.database = database
    }

    func preferences(of username: String) async -> UserPreferences {
        if let cached = cache.withLockedValue({ $0[username] }) { return cached }
        // An unreadable database shows the defaults for this request only (cached, a later save would overwrite
        // the stored values with them).
        guard let stored = try? await database.settings(of: username) else { return UserPreferences() }
        let preferences = UserPreferences(stored: stored)
        cache.withLockedValue { $0[username] = preferences }
        return preferences
    }

    func save(_ preferences: UserPreferences, for username: String) async throws {
        try await database.saveSettings(preferences.stored, for: username)
        cache.withLockedValue { $0[username] = preferences }
    }
}
