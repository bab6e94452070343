/// What a route needs. Every route declares one where it is registered; ``AccessControlMiddleware`` enforces it.
public struct Permission: Sendable, Hashable, CustomStringConvertible {
    /// A name for logs and the audit trail.
    public let name: String
    /// The lowest role that has it; nil for routes open without a session.
    public let minimumRole: Role?
    /// Whether a client on this machine (loopback, after proxy resolution) passes without a session, as a local
    /// Prometheus does; everyone else still needs `minimumRole`.
    public let opensToLoopback: Bool

    /// Granted by a dashboard's share-link cookie instead of a session (the route's `{id}` names the dashboard).
    public let viaShareLink: Bool
    /// A power that also admits a user whose role is below `minimumRole` (a member of `--console-group`).
    public let grant: Grant?

    public init(_ name: String, minimumRole: Role?, opensToLoopback: Bool = false, viaShareLink: Bool = false, grant: Grant? = nil) {
        self.name = name
        self.minimumRole = minimumRole
        self.opensToLoopback = opensToLoopback
        self.viaShareLink = viaShareLink
        self.grant = grant
    }

    /// Whether a signed-in user has it: the role reaches the minimum, or the user holds the permission's grant.
    public func admits(_ user: SignedInUser) -> Bool {
        guard let minimumRole else { return true }
        if user.role >= minimumRole { return true }
        if let grant, user.grants.contains(grant) { return true }
        return false
    }

    public var description: String { name }

    /// Whether every request the access check lets through has a signed-in user: a role is needed, and neither a
    /// loopback client nor a share link stands in for it.
    public var needsSession: Bool { minimumRole != nil && !opensToLoopback && !viaShareLink }

    /// Open without a session: the login page, `/healthz`.
    public static let anyone = Permission("anyone", minimumRole: nil)
    /// Any signed-in user (logout, own settings).
    public static let signedIn = Permission("signed-in", minimumRole: .viewer)
    /// Look at containers, images and the rest without changing anything.
    public static let viewContainers = Permission("containers.view", minimumRole: .viewer)
    /// Read the audit trail: admins everyone's rows, others their own (the controller narrows it).
    public static let viewAudit = Permission("audit.view", minimumRole: .viewer)
    /// Start, stop, restart, pause, kill; read logs; pull.
    public static let operateContainers = Permission("containers.operate", minimumRole: .operator)
    /// Watch one shared dashboard through a share link: its page and streams, reading only. Never a session.
    public static let watchSharedDashboard = Permission("dashboard.share-link", minimumRole: nil, viaShareLink: true)
    /// Remove, create privileged things, exec, change others' settings.
    public static let administer = Permission("admin", minimumRole: .admin)
    /// A shell in a running container: admins, and members of `--console-group`.
    public static let exec = Permission("exec", minimumRole: .admin, grant: .console)
    /// Read operational metrics (`/metrics`): a scraper on this machine, or a signed-in admin.
    public static let readMetrics = Permission("metrics.read", minimumRole: .admin, opensToLoopback: true)
}
