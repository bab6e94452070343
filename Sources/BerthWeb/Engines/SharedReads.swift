import NIOConcurrencyHelpers

/// Reads that many ask for at the same moment made once: of an engine, by a wall of screens on one dashboard each told
/// of the same event; of a session, by its many streams' heartbeats.
///
/// A read is shared only with askers whose need arose before it started (`since`): one that started earlier might not
/// show what they were told of, so they start their own. Errors are shared like values.
final class SharedReads<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Read: Sendable {
        let started: ContinuousClock.Instant
        let task: Task<Value, any Error>
    }

    /// Past this many keys, reads older than `kept` are forgotten as new ones start.
    static var pruneAbove: Int { 64 }
    static var kept: Duration { .seconds(5) }

    private let reads = NIOLockedValueBox([Key: Read]())

    /// `read`'s value for `key`, from a read that started at `since` or later: one under way or done is joined, else
    /// this one starts it.
    func value(_ key: Key, since: ContinuousClock.Instant, read: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = reads.withLockedValue { reads -> Task<Value, any Error> in
            if let known = reads[key], known.started >= since { return known.task }
            let now = ContinuousClock.now
            if reads.count > Self.pruneAbove { reads = reads.filter { now - $0.value.started < Self.kept } }
            let task = Task { try await read() }
            reads[key] = Read(started: now, task: task)
            return task
        }
        return try await task.value
    }
}
