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
        routes.post("/settings", .signedIn, audit: .settingsUpdate, use: save)
    }

    @Sendable func show(_ request: Request, context: SignedInContext) async throws -> Response {
        try views.page("settings", SettingsPage(context.preferences, errors: [:], typed: nil), context: context)
    }

    /// Saves all fields or none; a field that can't be used is named with its own message, the form keeps what was
    /// typed.
    @Sendable func save(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let form = context.form
        let (chosen, errors) = UserPreferences.parse(form)
        let changed = chosen.stored.filter { context.preferences.stored[$0.key] != $0.value }
        // The answer when it is not the saved settings' redirect.
        let result = try await audit.act(
            context: context, targetType: "user", targetId: user.username,
            parameters: errors.isEmpty ? changed : errors.mapValues { _ in "invalid" }
        ) { record -> Response? in
            guard errors.isEmpty else {
                record.fail("invalid " + errors.keys.sorted().joined(separator: ", "))
                return try views.page(
                    "settings", SettingsPage(context.preferences, errors: errors, typed: form), context: context, status: .badRequest
                )
            }
            do {
                try await preferences.save(chosen, for: user.username)
            } catch {
                record.fail("\(error)")
                return .redirect(to: "/settings", flash: Flash(.error, "Your settings could not be saved: \(error)"))
            }
            return nil
        }
        switch result {
        case .done(let answer?, _):
            return answer
        case .done(nil, let recorded):
            let message = changed.isEmpty ? "Nothing changed." : "Settings saved."
            return .redirect(to: "/settings", flash: AuditTrail.flash(.done(message, recorded: recorded)))
        case .refused:
            return .redirect(to: "/settings", flash: Flash(.error, AuditTrail.unavailableMessage))
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
