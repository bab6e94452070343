import NIOConcurrencyHelpers

/// The answer of `work`, or nil once `timeout` has passed, whichever comes first. The work is cancelled then, but not
/// waited for: an engine that does not react to the cancellation (a stalled daemon) delays nobody. The timer ends with
/// the work, and a cancelled caller cancels both.
func withDeadline<Value: Sendable>(_ timeout: Duration, _ work: @escaping @Sendable () async -> Value) async -> Value? {
    let waiting = NIOLockedValueBox<CheckedContinuation<Value?, Never>?>(nil)
    let tasks = NIOLockedValueBox<(worker: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))
    let resumeOnce: @Sendable (Value?) -> Void = { value in
        let continuation = waiting.withLockedValue { waiting in
            defer { waiting = nil }
            return waiting
        }
        continuation?.resume(returning: value)
    }
    return await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            waiting.withLockedValue { $0 = continuation }
            let worker = Task {
                let value = await work()
                tasks.withLockedValue { $0.timer }?.cancel()
                resumeOnce(value)
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                worker.cancel()
                resumeOnce(nil)
            }
            tasks.withLockedValue { $0 = (worker, timer) }
        }
    } onCancel: {
        let (worker, timer) = tasks.withLockedValue { $0 }
        worker?.cancel()
        timer?.cancel()
        resumeOnce(nil)
    }
}
