/// What a signed-in user may do, from their unix groups. Each role includes the ones below it.
public enum Role: String, Sendable, Codable, Comparable, CaseIterable {
    /// Read-only.
    case viewer
    /// Day-to-day operation: start, stop, restart, pause, kill, logs, pull.
    case `operator`
    /// Everything.
    case admin

    public static func < (lhs: Role, rhs: Role) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }
}

/// A power a unix group of its own grants beside the role: it is not part of any role below admin.
public enum Grant: String, Sendable, Hashable, CaseIterable {
    /// A shell in containers (`exec`): admins have it anyway; members of `--console-group` have it too.
    case console

    /// As a session row stores them: comma-separated names, unknown ones dropped.
    static func decode(_ stored: String) -> Set<Grant> {
        Set(stored.split(separator: ",").compactMap { Grant(rawValue: String($0)) })
    }

    static func encode(_ grants: Set<Grant>) -> String {
        grants.map(\.rawValue).sorted().joined(separator: ",")
    }
}

/// Which unix group grants which role (`--admin-group` and friends), and which grants a power of its own
/// (`--console-group`).
public struct RoleGroups: Sendable, Equatable {
    public var admin: String
    public var `operator`: String
    public var viewer: String
    /// Members may open consoles whatever their role (it still takes a role to sign in).
    public var console: String

    public init(
        admin: String = "berth-admin", operator: String = "berth-operator", viewer: String = "berth-viewer",
        console: String = "berth-console"
    ) {
        self.admin = admin
        self.operator = `operator`
        self.viewer = viewer
        self.console = console
    }

    /// The powers the groups grant beside the role.
    public func grants(forGroups groups: [String]) -> Set<Grant> {
        groups.contains(console) ? [.console] : []
    }

    /// The highest role the groups grant; nil when they grant none (the account may not use Berth).
    public func role(forGroups groups: [String]) -> Role? {
        let groups = Set(groups)
        if groups.contains(admin) { return .admin }
        if groups.contains(`operator`) { return .operator }
        if groups.contains(viewer) { return .viewer }
        return nil
    }
}
