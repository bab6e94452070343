import BerthStore
import Foundation

/// What `registries.mustache` shows: the saved logins a person may use (their own and the shared ones).
struct RegistryLoginsPage: Sendable {
    let title = "Registry logins"
    let rows: [Row]
    let isEmpty: Bool
    let keyPath: String

    struct Row: Sendable {
        let id: String
        let registry: String
        let username: String
        let shared: Bool
        let savedBy: String
        let saved: DisplayTime
        let lastUsed: DisplayTime?
        let problem: String?
        let canRemove: Bool
    }

    init(logins: [(RegistryLogin, String?)], user: SignedInUser, keyPath: String, preferences: UserPreferences) {
        rows = logins.map { login, problem in
            Row(
                id: login.id.map(String.init) ?? "", registry: login.registry, username: login.username, shared: login.owner == nil,
                savedBy: login.createdBy, saved: DisplayTime(login.createdAt, preferences: preferences),
                lastUsed: login.lastUsedAt.map { DisplayTime($0, preferences: preferences) }, problem: problem,
                canRemove: login.owner != nil || user.role == .admin
            )
        }
        isEmpty = rows.isEmpty
        self.keyPath = keyPath
    }
}
