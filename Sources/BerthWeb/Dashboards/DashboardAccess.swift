import BerthStore
import PAMAuth

/// Who may watch and who may change a dashboard.
enum DashboardAccess {
    /// Admins see every dashboard; others their own and those shared with everyone, with them, or with a group of
    /// theirs (read from the system's group database, so a change of groups counts at once).
    static func canView(_ dashboard: DashboardRecord, _ user: SignedInUser) -> Bool {
        if user.role == .admin || dashboard.owner == user.username || dashboard.sharedWithAll { return true }
        if dashboard.sharedUsers.contains(user.username) { return true }
        guard !dashboard.sharedGroups.isEmpty, let account = UnixAccount.lookup(user.username) else { return false }
        return !Set(account.groups).isDisjoint(with: dashboard.sharedGroups)
    }

    /// The owner (while still an operator) and admins change it, its links included.
    static func canEdit(_ dashboard: DashboardRecord, _ user: SignedInUser) -> Bool {
        user.role == .admin || (dashboard.owner == user.username && user.role >= .operator)
    }
}
