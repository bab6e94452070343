/// The user a request's session belongs to, as the central access check resolved it.
public struct SignedInUser: Sendable, Equatable {
    public let username: String
    /// The role where the request acts: on an engine of its own groups, what those give.
    public private(set) var role: Role
    /// The role the global groups give (the session's), whatever engine the request acts on.
    public let globalRole: Role
    /// Powers beside the role (a console group's).
    public private(set) var grants: Set<Grant>
    /// The per-session token every state-changing form carries.
    public let csrfToken: String
    /// The SHA-256 of the session token: the session's key in the database.
    let sessionKey: String

    init(username: String, role: Role, grants: Set<Grant> = [], csrfToken: String, sessionKey: String) {
        self.username = username
        self.role = role
        globalRole = role
        self.grants = grants
        self.csrfToken = csrfToken
        self.sessionKey = sessionKey
    }

    /// The same user with the role (and powers) they have on one engine.
    func with(role: Role, grants: Set<Grant>? = nil) -> SignedInUser {
        var user = self
        user.role = role
        if let grants { user.grants = grants }
        return user
    }
}
