import EngineAPI
import Foundation
import NIOConcurrencyHelpers

/// Pulls asked for but not yet started. The form's POST leaves one here (credentials included, in memory only) and
/// the progress page's stream takes it, once: credentials are never stored, logged or put in a URL.
final class PullTickets: Sendable {
    struct Ticket: Sendable {
        let reference: ImageReference
        let credentials: RegistryCredentials?
        let sessionKey: String
        let createdAt: ContinuousClock.Instant
    }

    /// A ticket not taken within this time is dropped with its credentials.
    let lifetime: Duration
    private let tickets = NIOLockedValueBox<[String: Ticket]>([:])

    init(lifetime: Duration = .seconds(120)) {
        self.lifetime = lifetime
    }

    func issue(_ reference: ImageReference, credentials: RegistryCredentials?, sessionKey: String) -> String {
        let id = Tokens.random()
        let now = ContinuousClock.now
        tickets.withLockedValue { tickets in
            tickets = tickets.filter { now - $0.value.createdAt < lifetime }
            tickets[id] = Ticket(reference: reference, credentials: credentials, sessionKey: sessionKey, createdAt: now)
        }
        return id
    }

    /// The ticket, removed; nil when it is unknown, expired, already taken, or another session's.
    func take(_ id: String, sessionKey: String) -> Ticket? {
        tickets.withLockedValue { tickets in
            guard let ticket = tickets[id], ticket.sessionKey == sessionKey else { return nil }
            tickets[id] = nil
            return ContinuousClock.now - ticket.createdAt < lifetime ? ticket : nil
        }
    }

    /// The reference of a waiting ticket, without taking it (the progress page checks before it renders).
    func waitingReference(_ id: String, sessionKey: String) -> ImageReference? {
        tickets.withLockedValue { tickets in tickets[id].flatMap { $0.sessionKey == sessionKey ? $0.reference : nil } }
    }
}
