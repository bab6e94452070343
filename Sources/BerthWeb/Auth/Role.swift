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

/// Which unix group grants which role (`--admin-group` and friends).
public struct RoleGroups: Sendable, Equatable {
    public var admin: String
    public var `operator`: String
    public var viewer: String

    public init(admin: String = "berth-admin", operator: String = "berth-operator", viewer: String = "berth-viewer") {
        self.admin = admin
        self.operator = `operator`
        self.viewer = viewer
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
