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
