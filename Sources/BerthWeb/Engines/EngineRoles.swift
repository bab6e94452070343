import Foundation
import NIOConcurrencyHelpers
import PAMAuth

/// A signed-in user's role on each engine: the session's role where an engine names no groups of its own, else what
/// that engine's groups give (none: the engine is not theirs to see).
///
/// Group memberships are read from the system's group database and kept for a short while, so a page that lists the
/// engines does not read it once per engine. A lookup that finds no account is not kept (a directory service that
/// hiccups must not take every engine away for the whole while).
final class EngineRoles: Sendable {
    private let groupsOf: @Sendable (String) -> [String]?
    private let cache = NIOLockedValueBox<[String: (groups: [String], read: ContinuousClock.Instant)]>([:])
    private let lifetime: Duration

    init(lifetime: Duration = .seconds(30), groupsOf: @escaping @Sendable (String) -> [String]? = { UnixAccount.lookup($0)?.groups }) {
        self.lifetime = lifetime
        self.groupsOf = groupsOf
    }

    func role(of user: SignedInUser, on engine: EngineHandle) -> Role? {
        self.user(user, on: engine)?.role
    }

    /// The user as they stand on the engine — its role there and the powers its groups give (a console group of its
    /// own) —; nil when they have no role there.
    func user(_ user: SignedInUser, on engine: EngineHandle) -> SignedInUser? {
        guard let groups = engine.roleGroups else { return user.with(role: user.globalRole) }
        let memberships = memberships(of: user.username) ?? []
        return groups.role(forGroups: memberships).map { user.with(role: $0, grants: groups.grants(forGroups: memberships)) }
    }

    /// What an open stream asks at its heartbeat: the user's role on the engine now, none, or unknown when the group
    /// database did not answer (a directory service's hiccup must not end every stream).
    enum Standing: Sendable, Equatable {
        case role(Role)
        case none
        case unknown
    }

    func standing(of user: SignedInUser, on engine: EngineHandle) -> Standing {
        guard let groups = engine.roleGroups else { return .role(user.globalRole) }
        guard let memberships = memberships(of: user.username) else { return .unknown }
        return groups.role(forGroups: memberships).map { .role($0) } ?? .none
    }

    /// The engines the user has a role on, with that role, in the directory's order.
    func engines(of user: SignedInUser, in directory: EngineDirectory) -> [(engine: EngineHandle, role: Role)] {
        directory.all.compactMap { engine in role(of: user, on: engine).map { (engine, $0) } }
    }

    /// Nil when the account could not be looked up.
    private func memberships(of username: String) -> [String]? {
        let now = ContinuousClock.now
        if let known = cache.withLockedValue({ $0[username] }), now - known.read < lifetime { return known.groups }
        guard let groups = groupsOf(username) else { return nil }
        cache.withLockedValue { cache in
            // Bounded by the people who signed in lately; old entries go when it grows.
            if cache.count > 4096 { cache = cache.filter { now - $0.value.read < lifetime } }
            cache[username] = (groups, now)
        }
        return groups
    }
}

/// What the pages of a request need to know of the engines: which there are, and the user's role on each.
struct EngineAccess: Sendable {
    let directory: EngineDirectory
    let roles: EngineRoles
}
