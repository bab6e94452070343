import NIOConcurrencyHelpers

/// At most `permits` holders at once; the others wait their turn, first come first served.
///
/// Log catch-ups pass through one: a hundred pages opened at once (a wall of screens, an attacker) each read their
/// history from the engine, and a hundred such readers on two cores would make every page request wait behind them.
final class AsyncGate: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var free: Int
        var waiting: [Waiter] = []
        var nextID = 0
    }

    let permits: Int
    private let state: NIOLockedValueBox<State>

    init(permits: Int) {
        self.permits = permits
        state = NIOLockedValueBox(State(free: permits))
    }

    /// Waits for a permit: true once held (give it back with ``release()``), false when the task was cancelled first.
    func acquire() async -> Bool {
        let id = state.withLockedValue { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now = state.withLockedValue { state -> Bool? in
                    if Task.isCancelled { return false }
                    if state.free > 0 {
                        state.free -= 1
                        return true
                    }
                    state.waiting.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> Waiter? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiting.remove(at: index)
            }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// Gives a permit back: to the first waiter, if any.
    func release() {
        let next = state.withLockedValue { state -> Waiter? in
            if state.waiting.isEmpty {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: true)
    }
}
