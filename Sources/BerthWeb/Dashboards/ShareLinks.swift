import BerthStore
import Foundation
import Hummingbird

/// Someone watching a dashboard through a share link: no account, one dashboard, reading only.
public struct ShareViewer: Sendable, Equatable {
    public let linkId: Int64
    public let dashboardId: Int64
    /// The SHA-256 of the cookie token.
    let sessionKey: String

    /// How the audit trail names them.
    var actor: String { "link #\(linkId)" }
    /// The key their streams are registered under, so that revoking the link closes them at once.
    var streamKey: String { ShareLinks.streamKey(linkId: linkId) }
}

/// Share links: made with a random token of which only the hash is kept, exchanged once for a cookie scoped to the
/// dashboard's path, and checked (revoked? expired?) on every request and every stream heartbeat.
struct ShareLinks: Sendable {
    let database: AppDatabase
    let secureCookies: Bool
    /// The longest expiry a link may be given (`--share-link-max-days`).
    let maxLifetime: TimeInterval
    /// A link's cookie ends after this long without a request (a wall screen's stream keeps it alive).
    var idleTimeout: TimeInterval = 3600

    /// `__Secure-` rather than `__Host-`: the cookie is scoped to one dashboard's path, which `__Host-` forbids.
    var cookieName: String { secureCookies ? "__Secure-berth-share" : "berth-share" }

    static func streamKey(linkId: Int64) -> String { "share-link:\(linkId)" }
    static func basePath(dashboardId: Int64) -> String { "/shared/\(dashboardId)" }

    /// Makes a link; returns its record and the token, which is shown once and never stored.
    func create(dashboardId: Int64, label: String, lifetime: TimeInterval, by username: String, now: Date = Date()) async throws -> (DashboardLinkRecord, String) {
        let token = Tokens.random()
        let record = DashboardLinkRecord(
            dashboardId: dashboardId, tokenHash: Tokens.hash(token), label: label, createdBy: username, createdAt: now,
            expiresAt: now.addingTimeInterval(min(lifetime, maxLifetime))
        )
        return (try await database.createDashboardLink(record), token)
    }

    enum Exchange: Sendable {
        /// The cookie to set, for the dashboard of the link.
        case admitted(cookieToken: String, link: DashboardLinkRecord)
        /// Revoked or expired: 410.
        case gone(reason: String, link: DashboardLinkRecord)
        case unknown
    }

    /// Trades the token of a link's URL for a cookie session, counting the use.
    func exchange(token: String, clientAddress: String?, now: Date = Date()) async throws -> Exchange {
        guard token.utf8.count <= 128, let link = try await database.dashboardLink(tokenHash: Tokens.hash(token)), let linkId = link.id else {
            return .unknown
        }
        if let reason = link.unusableReason(at: now) { return .gone(reason: reason, link: link) }
        let cookieToken = Tokens.random()
        let session = ShareSessionRecord(
            tokenHash: Tokens.hash(cookieToken), linkId: linkId, dashboardId: link.dashboardId, createdAt: now, expiresAt: link.expiresAt
        )
        try await database.useDashboardLink(id: linkId, session: session, at: now)
        return .admitted(cookieToken: cookieToken, link: link)
    }

    enum Resolution: Sendable {
        case valid(ShareViewer)
        /// The link was revoked or expired, or the cookie outlived its idle time.
        case gone(reason: String, linkId: Int64?)
        case none
    }

    /// The viewer behind a share cookie, for the dashboard the request is about.
    func resolve(cookieToken: String, dashboardId: Int64, now: Date = Date()) async -> Resolution {
        await resolve(key: Tokens.hash(cookieToken), dashboardId: dashboardId, now: now)
    }

    func resolve(key: String, dashboardId: Int64, now: Date = Date()) async -> Resolution {
        guard let (session, link) = try? await database.shareSession(tokenHash: key), session.dashboardId == dashboardId else {
            return .none
        }
        if let reason = link.unusableReason(at: now) { return .gone(reason: reason, linkId: link.id) }
        if session.expiresAt <= now || session.lastSeenAt.addingTimeInterval(idleTimeout) <= now {
            try? await database.deleteShareSession(tokenHash: key)
            return .gone(reason: "This page was left unused too long. Open the link again.", linkId: link.id)
        }
        if session.lastSeenAt.addingTimeInterval(min(60, idleTimeout / 10)) <= now {
            try? await database.touchShareSession(tokenHash: key, at: now)
        }
        return .valid(ShareViewer(linkId: session.linkId, dashboardId: session.dashboardId, sessionKey: key))
    }

    /// Why a link viewer's stream must end now, or nil while it may go on.
    func endedReason(_ viewer: ShareViewer) async -> String? {
        switch await resolve(key: viewer.sessionKey, dashboardId: viewer.dashboardId) {
        case .valid: return nil
        case .gone(let reason, _): return reason
        case .none: return "This link no longer opens the dashboard."
        }
    }

    func cookie(token: String, dashboardId: Int64) -> Cookie {
        // Lax, not Strict: the link is usually opened from another site (a chat), and the first request after the
        // exchange must carry the cookie. Nothing under the path changes state, so Lax gives nothing away.
        Cookie(
            name: cookieName, value: token, path: Self.basePath(dashboardId: dashboardId), secure: secureCookies, httpOnly: true,
            sameSite: .lax
        )
    }
}
