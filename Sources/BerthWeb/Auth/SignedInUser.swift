/// The user a request's session belongs to, as the central access check resolved it.
public struct SignedInUser: Sendable, Equatable {
    public let username: String
    public let role: Role
    /// Powers beside the role (a console group's).
    public let grants: Set<Grant>
    /// The per-session token every state-changing form carries.
    public let csrfToken: String
    /// The SHA-256 of the session token: the session's key in the database.
    let sessionKey: String

    init(username: String, role: Role, grants: Set<Grant> = [], csrfToken: String, sessionKey: String) {
        self.username = username
        self.role = role
        self.grants = grants
        self.csrfToken = csrfToken
        self.sessionKey = sessionKey
    }
}
