import BerthStore
import Foundation
import Hummingbird

/// The signed-in user's own settings. Every user may change theirs and nobody else's.
struct SettingsController: Sendable {
    let preferences: PreferencesStore
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/settings", .signedIn, use: show)
        routes.post("/settings", .signedIn, audit: "settings.update", use: save)
    }

    @Sendable func show(_ request: Request, context: BerthRequestContext) async throws -> Response {
        try views.page("settings", SettingsPage(context.preferences, errors: [:], typed: nil), context: context)
    }

    /// Saves all fields or none; a field that can't be used is named with its own message, the form keeps what was
    /// typed.
    @Sendable func save(_ request: Request, context: BerthRequestContext) async throws -> Response {
        guard let user = context.user else { throw HTTPError(.unauthorized) }
        let form = context.form ?? FormFields("")
        let started = ContinuousClock.now
        let (chosen, errors) = UserPreferences.parse(form)
        if !errors.isEmpty {
            await audit.record(
                "settings.update", outcome: .error, context: context, targetType: "user", targetId: user.username,
                parameters: errors.mapValues { _ in "invalid" }, error: "invalid " + errors.keys.sorted().joined(separator: ", "),
                started: started
            )
            return try views.page(
                "settings", SettingsPage(context.preferences, errors: errors, typed: form), context: context, status: .badRequest
            )
        } else {
            let changed = chosen.stored.filter { context.preferences.stored[$0.key] != $0.value }
            guard let attempt = await audit.begin(
                "settings.update", context: context, targetType: "user", targetId: user.username, parameters: changed
            ) else {
                return .redirect(to: "/settings", flash: Flash(.error, AuditTrail.unavailableMessage))
            }
            do {
                try await preferences.save(chosen, for: user.username)
            } catch {
                await audit.finish(attempt, outcome: .error, error: "\(error)")
                return .redirect(to: "/settings", flash: Flash(.error, "Your settings could not be saved: \(error)"))
            }
            guard await audit.finish(attempt, outcome: .ok) else {
                return .redirect(to: "/settings", flash: Flash(.error, AuditTrail.unrecordedOutcome("Settings saved.")))
            }
            return .redirect(to: "/settings", flash: Flash(.ok, changed.isEmpty ? "Nothing changed." : "Settings saved."))
        }
    }
}

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
