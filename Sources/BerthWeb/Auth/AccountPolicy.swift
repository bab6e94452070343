import PAMAuth

/// Who may use Berth, and with which role: a PAM account that is usable and in one of the role groups.
struct AccountPolicy: Sendable {
    let pam: PAMAuthenticator
    let roleGroups: RoleGroups
    let allowRoot: Bool

    enum Decision: Sendable, Equatable {
        case allowed(Role, grants: Set<Grant>)
        case refused(reason: String)
    }

    static let noSuchAccount = "no such account"

    /// The role an account has now, from the system's group database.
    func role(of username: String) -> Decision {
        guard let account = UnixAccount.lookup(username) else { return .refused(reason: Self.noSuchAccount) }
        if account.uid == 0 && !allowRoot { return .refused(reason: "root may not sign in (see --allow-root)") }
        guard let role = roleGroups.role(forGroups: account.groups) else {
            return .refused(reason: "in none of the Berth groups")
        }
        return .allowed(role, grants: roleGroups.grants(forGroups: account.groups))
    }

    /// The role of an account that is signed in already, after checking with PAM that it is still usable.
    func currentRole(of username: String) async -> Decision {
        guard await pam.accountIsUsable(username: username) else { return .refused(reason: "account locked or expired") }
        return role(of: username)
    }
}
