import NIOConcurrencyHelpers

/// The answer of `work`, or nil once `timeout` has passed, whichever comes first. The work is cancelled then, but not
/// waited for: an engine that does not react to the cancellation (a stopped daemon's socket) delays nobody.
func withDeadline<Value: Sendable>(_ timeout: Duration, _ work: @escaping @Sendable () async -> Value) async -> Value? {
    let continuation = NIOLockedValueBox<CheckedContinuation<Value?, Never>?>(nil)
    let resumeOnce: @Sendable (Value?) -> Void = { value in
        continuation.withLockedValue { waiting in
            waiting?.resume(returning: value)
            waiting = nil
        }
    }
    return await withCheckedContinuation { waiting in
        continuation.withLockedValue { $0 = waiting }
        let worker = Task { resumeOnce(await work()) }
        Task {
            try? await Task.sleep(for: timeout)
            worker.cancel()
            resumeOnce(nil)
        }
    }
}
