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

/// Asks each of `items` at once, each for at most `timeout` (``withDeadline(_:_:)``): the answers in their order, nil
/// for one that did not answer in time. One slow engine delays the others by nothing, the whole by `timeout` at most.
func askEach<Item: Sendable, Value: Sendable>(
    _ items: [Item], timeout: Duration, _ ask: @escaping @Sendable (Item) async throws -> Value
) async -> [Result<Value, any Error>?] {
    await withTaskGroup(of: (Int, Result<Value, any Error>?).self) { group in
        for (index, item) in items.enumerated() {
            group.addTask {
                let answer = await withDeadline(timeout) { () -> Result<Value, any Error> in
                    do { return .success(try await ask(item)) } catch { return .failure(error) }
                }
                return (index, answer)
            }
        }
        var answers = [Result<Value, any Error>?](repeating: nil, count: items.count)
        for await (index, answer) in group { answers[index] = answer }
        return answers
    }
}
