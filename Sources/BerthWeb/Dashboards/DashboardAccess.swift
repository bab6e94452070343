import BerthStore
import PAMAuth

/// Who may watch and who may change a dashboard, and which of its engines it shows.
///
/// A dashboard is its owner's sharing of containers they operate: it shows an engine's containers only while its
/// owner still operates that engine (a role taken away, or the name given to another daemon where they have none,
/// withholds that engine's part at once, for teammates and links alike). Admins see and change every dashboard whose
/// engines they all have a role on — not one of an engine kept from them by its own groups.
struct DashboardAccess: Sendable {
    let engines: EngineAccess
    let accounts: AccountPolicy

    /// Admins (as above), the owner, and those it is shared with: everyone, them, or a group of theirs (read from the
    /// system's group database, so a change of groups counts at once).
    func canView(_ dashboard: DashboardRecord, _ user: SignedInUser) -> Bool {
        if dashboard.owner == user.username || dashboard.sharedWithAll || adminOfEvery(dashboard, user) { return true }
        if dashboard.sharedUsers.contains(user.username) { return true }
        guard !dashboard.sharedGroups.isEmpty, let account = UnixAccount.lookup(user.username) else { return false }
        return !Set(account.groups).isDisjoint(with: dashboard.sharedGroups)
    }

    /// The owner (while still an operator) and admins (as above) change it, its links included.
    func canEdit(_ dashboard: DashboardRecord, _ user: SignedInUser) -> Bool {
        (dashboard.owner == user.username && user.role >= .operator) || adminOfEvery(dashboard, user)
    }

    private func adminOfEvery(_ dashboard: DashboardRecord, _ user: SignedInUser) -> Bool {
        guard user.role == .admin else { return false }
        return dashboard.engines.allSatisfy { name in
            engines.directory.named(name).map { engines.roles.role(of: user, on: $0) != nil } ?? true
        }
    }

    /// What the owner may select from now.
    enum OwnerStanding: Sendable, Equatable {
        case operates
        case withheld(String)
        /// The system's account database did not answer: neither shown as lost nor as kept by a heartbeat.
        case unknown
    }

    /// Whether the dashboard's owner operates `engine` now.
    func owner(of dashboard: DashboardRecord, on engine: EngineHandle) -> OwnerStanding {
        switch accounts.role(of: dashboard.owner) {
        case .refused(let reason) where reason == AccountPolicy.noSuchAccount:
            return .unknown
        case .refused:
            return .withheld("Its owner, \(dashboard.owner), may no longer use Berth: the containers of \(engine.name) are not shown.")
        case .allowed(let role, let grants):
            let owner = SignedInUser(username: dashboard.owner, role: role, grants: grants, csrfToken: "", sessionKey: "")
            guard let there = engines.roles.role(of: owner, on: engine), there >= .operator else {
                return .withheld("Its owner, \(dashboard.owner), no longer operates the engine \(engine.name): its containers are not shown.")
            }
            return .operates
        }
    }

    /// The engines a user may put on a dashboard (those they operate), and those they may see at all.
    func choosable(by user: SignedInUser) -> (operated: [String], visible: [String]) {
        let roles = engines.roles.engines(of: user, in: engines.directory)
        return (roles.filter { $0.role >= .operator }.map(\.engine.name), roles.map(\.engine.name))
    }
}
