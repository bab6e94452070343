import BerthStore
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import PAMAuth

/// Session lifetimes and cookie settings (`--session-idle-timeout` and friends).
public struct SessionConfiguration: Sendable {
    /// A session unused this long ends.
    public var idleTimeout: TimeInterval
    /// A session ends this long after sign-in, however active.
    public var lifetime: TimeInterval
    /// How often a session's account is checked again (locked, expired, removed from its groups).
    public var accountRecheckInterval: TimeInterval
    /// Mark cookies `Secure` and use the `__Host-` name (behind a TLS proxy).
    public var secureCookies: Bool

    public init(idleTimeout: TimeInterval = 30 * 60, lifetime: TimeInterval = 12 * 3600, accountRecheckInterval: TimeInterval = 60, secureCookies: Bool = false) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.accountRecheckInterval = accountRecheckInterval
        self.secureCookies = secureCookies
    }
}

/// Creates, finds and ends sessions; the cookie holds a random token, the database only its hash.
struct SessionManager: Sendable {
    let database: AppDatabase
    let configuration: SessionConfiguration
    let accounts: AccountPolicy
    let logger: Logger
    /// The session's open event streams, closed when it ends.
    let streams: StreamRegistry
    /// What heartbeats found lately, by session key, and how long such an answer is used again.
    private let heartbeatAnswers = SharedReads<String, Resolution>()
    private let heartbeatAnswerLifetime: Duration

    init(
        database: AppDatabase, configuration: SessionConfiguration, accounts: AccountPolicy, streamHeartbeat: Duration = .seconds(15),
        logger: Logger
    ) {
        self.database = database
        self.configuration = configuration
        self.accounts = accounts
        self.logger = logger
        // A wave of streams wrote an audit row each and read pages for them: the database's caches go with it.
        streams = StreamRegistry(heartbeat: streamHeartbeat, releasing: { database.releaseMemory() })
        // Shorter than the time between two of the ticker's phases: each phase reads each session once.
        heartbeatAnswerLifetime = streamHeartbeat / (StreamRegistry.phases + 4)
    }

    /// `__Host-berth` when cookies are secure (the prefix demands Secure and Path=/), else `berth`.
    var cookieName: String { configuration.secureCookies ? "__Host-berth" : "berth" }

    /// Starts a session; returns the token for the cookie.
    func create(
        username: String, role: Role, grants: Set<Grant> = [], clientAddress: String?, userAgent: String?
    ) async throws -> (token: String, user: SignedInUser) {
        let token = Tokens.random()
        let now = Date()
        let record = SessionRecord(
            tokenHash: Tokens.hash(token), username: username, role: role.rawValue, grants: Grant.encode(grants), csrfToken: Tokens.random(),
            clientAddress: clientAddress, userAgent: userAgent.map { String($0.prefix(512)) },
            createdAt: now, expiresAt: now.addingTimeInterval(configuration.lifetime)
        )
        try await database.createSession(record)
        return (token, SignedInUser(username: username, role: role, grants: grants, csrfToken: record.csrfToken, sessionKey: record.tokenHash))
    }

    /// What resolving a cookie found.
    enum Resolution: Sendable {
        case valid(SignedInUser)
        /// There was a session, and it ended now; `reason` goes to the audit trail.
        case ended(username: String, reason: String)
        case none
    }

    /// Finds the session of a cookie token, ending it when it timed out or its account may no longer sign in.
    /// `activity` is false for what no person did: a stream's (re)connection.
    func resolve(token: String, activity: Bool = true) async -> Resolution {
        await resolve(key: Tokens.hash(token), activity: activity)
    }

    /// Why the session of an open stream is over, or nil while it is valid. Asked at every heartbeat, which is not
    /// activity: a page left open with live logs ends with the idle timeout like any other (a wall screen uses a
    /// share link).
    func endedReason(sessionKey: String) async -> String? {
        Self.endedReason(await resolveForHeartbeat(key: sessionKey))
    }

    /// The session as a stream's heartbeat sees it: what a heartbeat of the same session read (or is reading) in the
    /// last moment, else read anew. A session's many streams (a wall of pages) cost one database read a moment, not
    /// one each; signing out closes them at once all the same (``StreamRegistry/closeAll``).
    func resolveForHeartbeat(key: String) async -> Resolution {
        let read = { @Sendable [self] in await resolve(key: key, activity: false) }
        return (try? await heartbeatAnswers.value(key, since: .now - heartbeatAnswerLifetime, read: read)) ?? Resolution.none
    }

    /// What a stream's page is told when its session is no longer valid; nil while it is.
    static func endedReason(_ resolution: Resolution) -> String? {
        switch resolution {
        case .valid: return nil
        case .ended(_, let reason): return "Your session ended (\(reason)). Sign in again."
        case .none: return "You were signed out."
        }
    }

    /// The session by its key (what an open console holds): as `resolve(token:)`.
    func resolve(key: String, activity: Bool) async -> Resolution {
        let found: SessionRecord?
        do {
            found = try await database.session(tokenHash: key)
        } catch {
            logger.error("cannot read sessions", metadata: ["error": "\(error)"])
            return .none
        }
        guard let session = found, let storedRole = Role(rawValue: session.role) else { return .none }
        let now = Date()
        if session.expiresAt <= now {
            return await end(session, reason: "session lifetime reached")
        }
        if session.lastSeenAt.addingTimeInterval(configuration.idleTimeout) <= now {
            return await end(session, reason: "idle timeout")
        }
        var role = storedRole
        let storedGrants = Grant.decode(session.grants)
        var grants = storedGrants
        var checkedAt: Date?
        if session.accountCheckedAt.addingTimeInterval(configuration.accountRecheckInterval) <= now {
            switch await accounts.currentRole(of: session.username) {
            case .allowed(let current, let currentGrants):
                role = current
                grants = currentGrants
                checkedAt = now
            case .refused(let reason):
                return await end(session, reason: reason)
            }
        }
        // Activity is recorded coarsely: a write per request would be wasted on a busy page.
        let touchEvery = min(5, configuration.idleTimeout / 10)
        let seen = activity && session.lastSeenAt.addingTimeInterval(touchEvery) <= now
        if checkedAt != nil || role != storedRole {
            try? await database.touchSession(
                tokenHash: key, lastSeenAt: seen ? now : nil, accountCheckedAt: checkedAt, role: role != storedRole ? role.rawValue : nil,
                grants: grants != storedGrants ? Grant.encode(grants) : nil
            )
        } else if seen {
            // Only the time of the last activity: the request does not wait for it behind other writes (a burst of
            // audit rows, each committed to disk), since nothing in this answer depends on it.
            let database = self.database
            Task { try? await database.touchSession(tokenHash: key, lastSeenAt: now, accountCheckedAt: nil, role: nil) }
        }
        return .valid(SignedInUser(username: session.username, role: role, grants: grants, csrfToken: session.csrfToken, sessionKey: key))
    }

    func end(sessionKey: String) async throws {
        try await database.deleteSession(tokenHash: sessionKey)
        streams.closeAll(sessionKey: sessionKey, reason: "You signed out.")
    }

    private func end(_ session: SessionRecord, reason: String) async -> Resolution {
        try? await database.deleteSession(tokenHash: session.tokenHash)
        streams.closeAll(sessionKey: session.tokenHash, reason: "Your session ended (\(reason)). Sign in again.")
        return .ended(username: session.username, reason: reason)
    }

    func cookie(token: String) -> Cookie {
        Cookie(name: cookieName, value: token, path: "/", secure: configuration.secureCookies, httpOnly: true, sameSite: .strict)
    }

    func expiredCookie() -> Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: "/", secure: configuration.secureCookies, httpOnly: true, sameSite: .strict)
    }
}

