import Foundation
import NIOConcurrencyHelpers

/// Slows down password guessing: per account and client address, consecutive failures lock that pair out for a
/// while; per account, too many failures in an hour lock the account out from everywhere. Unknown and known
/// usernames are counted alike, so the lockout says nothing about which exist.
///
/// Kept in memory: a restart forgets it, which pam_faillock (see deploy/pam.d/berth) does not.
public final class LoginThrottle: Sendable {
    public struct Configuration: Sendable {
        /// Consecutive failures of one account from one address before that pair is locked out.
        public var maxConsecutiveFailures: Int
        public var lockout: TimeInterval
        /// Failures of one account from anywhere within an hour before the account is locked out.
        public var maxFailuresPerHour: Int

        public init(maxConsecutiveFailures: Int = 5, lockout: TimeInterval = 15 * 60, maxFailuresPerHour: Int = 100) {
            self.maxConsecutiveFailures = maxConsecutiveFailures
            self.lockout = lockout
            self.maxFailuresPerHour = maxFailuresPerHour
        }
    }

    private struct PairKey: Hashable {
        let username: String
        let address: String
    }

    private struct PairState {
        var consecutiveFailures = 0
        var lockedUntil: Date?
    }

    private struct State {
        var pairs: [PairKey: PairState] = [:]
        /// Failure times per account within the last hour.
        var accountFailures: [String: [Date]] = [:]
    }

    /// Bounds the memory an attacker can make us spend by inventing usernames.
    private static let maxTrackedEntries = 100_000

    public let configuration: Configuration
    private let state = NIOLockedValueBox(State())

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Whether a login for `username` from `address` may be tried now.
    public func isLockedOut(username: String, address: String, now: Date = Date()) -> Bool {
        state.withLockedValue { state in
            if let until = state.pairs[PairKey(username: username, address: address)]?.lockedUntil, until > now {
                return true
            }
            let recent = (state.accountFailures[username] ?? []).filter { $0 > now.addingTimeInterval(-3600) }
            return recent.count >= configuration.maxFailuresPerHour
        }
    }

    /// Counts a failure; returns true when it locked the pair or the account out.
    @discardableResult
    public func recordFailure(username: String, address: String, now: Date = Date()) -> Bool {
        state.withLockedValue { state in
            if state.pairs.count > Self.maxTrackedEntries || state.accountFailures.count > Self.maxTrackedEntries {
                Self.prune(&state, now: now, lockout: configuration.lockout)
            }
            let key = PairKey(username: username, address: address)
            var pair = state.pairs[key] ?? PairState()
            if let until = pair.lockedUntil, until <= now {
                pair = PairState()  // a lockout that ran out starts a fresh count
            }
            pair.consecutiveFailures += 1
            var locked = false
            if pair.consecutiveFailures >= configuration.maxConsecutiveFailures, pair.lockedUntil == nil {
                pair.lockedUntil = now.addingTimeInterval(configuration.lockout)
                locked = true
            }
            state.pairs[key] = pair
            var failures = (state.accountFailures[username] ?? []).filter { $0 > now.addingTimeInterval(-3600) }
            failures.append(now)
            if failures.count == configuration.maxFailuresPerHour { locked = true }
            state.accountFailures[username] = failures
            return locked
        }
    }

    /// A successful login clears that pair's consecutive failures.
    public func recordSuccess(username: String, address: String) {
        _ = state.withLockedValue { $0.pairs.removeValue(forKey: PairKey(username: username, address: address)) }
    }

    private static func prune(_ state: inout State, now: Date, lockout: TimeInterval) {
        state.pairs = state.pairs.filter { $0.value.lockedUntil.map { $0 > now } ?? false }
        state.accountFailures = state.accountFailures.compactMapValues { times in
            let recent = times.filter { $0 > now.addingTimeInterval(-3600) }
            return recent.isEmpty ? nil : recent
        }
    }
}
