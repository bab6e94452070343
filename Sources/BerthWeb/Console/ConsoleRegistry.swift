import NIOConcurrencyHelpers

/// The consoles open now, per person and in all, against `--console-max-per-user` and `--console-max`.
final class ConsoleRegistry: Sendable {
    private struct State {
        var perUser: [String: Int] = [:]
        var total = 0
    }

    private let state = NIOLockedValueBox(State())
    let perUserLimit: Int
    let totalLimit: Int

    init(perUser: Int, total: Int) {
        perUserLimit = perUser
        totalLimit = total
    }

    /// Takes a place for a new console, or says why there is none.
    func admit(_ username: String) -> String? {
        state.withLockedValue { state in
            if state.perUser[username, default: 0] >= perUserLimit {
                return "You have \(perUserLimit) consoles open already (--console-max-per-user); close one first."
            }
            if state.total >= totalLimit {
                return "Berth has \(totalLimit) consoles open now (--console-max); try again when one has closed."
            }
            state.perUser[username, default: 0] += 1
            state.total += 1
            return nil
        }
    }

    func release(_ username: String) {
        state.withLockedValue { state in
            state.total -= 1
            state.perUser[username, default: 1] -= 1
            if state.perUser[username] == 0 { state.perUser[username] = nil }
        }
    }

    var open: Int { state.withLockedValue { $0.total } }
}
