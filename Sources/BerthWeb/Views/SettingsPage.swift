import Foundation

/// What `settings.mustache` shows: each setting with its choices, the current (or just typed) value selected.
struct SettingsPage: Sendable {
    let title = "Settings"
    let theme: [Choice]
    let containerFilter: [Choice]
    let timeZone: [Choice]
    let timeStyle: [Choice]
    let dateFormat: [Choice]
    let logTailLines: String
    let logTimestamps: Bool
    let logWrap: Bool
    let errors: [FieldMessage]
    let tailError: String?
    let maxTail = UserPreferences.maxTailLines

    struct Choice: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    struct FieldMessage: Sendable {
        let field: String
        let message: String
    }

    init(_ preferences: UserPreferences, errors: FieldErrors, typed form: FormFields?) {
        func choices<T: RawRepresentable & CaseIterable>(_ field: String, _ current: T, _ labels: [String: String] = [:]) -> [Choice]
        where T.RawValue == String {
            let selected = form?[field] ?? current.rawValue
            return T.allCases.map { Choice(value: $0.rawValue, label: labels[$0.rawValue] ?? $0.rawValue, selected: $0.rawValue == selected) }
        }
        theme = choices("theme", preferences.theme)
        containerFilter = choices("containerFilter", preferences.containerFilter, ["running": "running only", "all": "all"])
        timeZone = choices("timeZone", preferences.timeZone, ["local": "my browser's time zone", "utc": "UTC"])
        timeStyle = choices("timeStyle", preferences.timeStyle, ["absolute": "absolute (2026-11-23 08:15)", "relative": "relative (5 min ago)"])
        dateFormat = choices("dateFormat", preferences.dateFormat)
        logTailLines = form?["logTailLines"] ?? preferences.logTailLines.map(String.init) ?? "all"
        logTimestamps = form.map { $0.isChecked("logTimestamps") } ?? preferences.logTimestamps
        logWrap = form.map { $0.isChecked("logWrap") } ?? preferences.logWrap
        self.errors = errors.sorted { $0.key < $1.key }.map { FieldMessage(field: $0.key, message: $0.value) }
        tailError = errors["logTailLines"]
    }
}
