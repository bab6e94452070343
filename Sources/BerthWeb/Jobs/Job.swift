import BerthStore
import Foundation
import NIOConcurrencyHelpers

/// One part of a job's progress: an image layer being pulled, an image being checked.
struct JobItem: Codable, Sendable, Equatable {
    let id: String
    var status: String
    var current: Int64?
    var total: Int64?
    var done: Bool
}

/// What a job's page draws: its state, its progress, and the log lines after `logFrom`.
struct JobSnapshot: Codable, Sendable {
    let id: Int64
    let state: JobRecord.State
    let summary: String
    /// Bytes (or steps) done of `total`, for the bar; 0 of 0 when unknown.
    let current: Int64
    let total: Int64
    let items: [JobItem]
    let message: String?
    /// When it started and ended (ISO 8601), once it did.
    let startedAt: String?
    let endedAt: String?
    /// Log lines numbered from `logFrom`; `logNext` is the number the next line will have.
    let log: [String]
    let logFrom: Int
    let logNext: Int

    var ended: Bool { state.isFinal }

    /// The last snapshot an ended job's row keeps.
    static func stored(in record: JobRecord) -> JobSnapshot? {
        record.progress.flatMap { try? JSONDecoder().decode(JobSnapshot.self, from: Data($0.utf8)) }
    }
}

/// Why a job was stopped before it ended by itself.
enum JobStop: Sendable, Equatable {
    case cancelled(by: String)
    /// Berth is shutting down.
    case shutdown

    var message: String {
        switch self {
        case .cancelled(let user): "Cancelled by \(user)."
        case .shutdown: Job.interruptedMessage
        }
    }

    var state: JobRecord.State {
        switch self {
        case .cancelled: .cancelled
        case .shutdown: .interrupted
        }
    }
}

/// A job while this process runs it: its state and progress in memory, told to whoever watches. Its work reports
/// through `report` and `log`; watchers follow `changes()`.
final class Job: Sendable {
    static let interruptedMessage = "Berth stopped while this job ran; it did not finish. Start it again."
    /// The log keeps its last lines only, each cut at this many characters.
    static let logLines = 500
    static let logLineLength = 2048
    static let items = 500

    let id: Int64
    let kind: JobKind
    let title: String
    /// What it works on (an image reference).
    let target: String?
    let owner: String
    /// The engine it works on, by name; nil for a job of no engine.
    let engine: String?
    let createdAt: Date

    private struct State {
        var phase: JobRecord.State = .queued
        var startedAt: Date?
        var endedAt: Date?
        var summary = "Waiting for its turn…"
        var current: Int64 = 0
        var total: Int64 = 0
        var items: [JobItem] = []
        var message: String?
        var log: [String] = []
        /// The number of the first line still in `log`.
        var logFrom = 0
        var stop: JobStop?
        var task: Task<Void, Never>?
        var watchers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextWatcher = 0
    }

    private let state = NIOLockedValueBox(State())

    init(id: Int64, kind: JobKind, title: String, target: String?, owner: String, createdAt: Date, engine: String? = nil) {
        self.engine = engine
        self.id = id
        self.kind = kind
        self.title = title
        self.target = target
        self.owner = owner
        self.createdAt = createdAt
    }

    // MARK: - What the work tells

    /// The progress as it is now.
    func report(summary: String, current: Int64 = 0, total: Int64 = 0, items: [JobItem]? = nil) {
        changed { state in
            state.summary = String(summary.prefix(512))
            state.current = current
            state.total = total
            if let items { state.items = Array(items.prefix(Self.items)) }
        }
    }

    /// A line for the job's log (the last `logLines` are kept).
    func log(_ line: String) {
        // One line each: the stored log is the lines joined by newlines.
        let line = line.contains(where: \.isNewline) ? String(line.map { $0.isNewline ? " " : $0 }) : line
        changed { state in
            state.log.append(line.count > Self.logLineLength ? String(line.prefix(Self.logLineLength)) + "…" : line)
            if state.log.count > Self.logLines {
                state.log.removeFirst(state.log.count - Self.logLines)
                state.logFrom += 1
            }
        }
    }

    // MARK: - Its life

    func attach(_ task: Task<Void, Never>) {
        let stop = state.withLockedValue { state in
            state.task = task
            return state.stop
        }
        if stop != nil { task.cancel() }
    }

    func markRunning(at time: Date = Date()) {
        changed { state in
            state.phase = .running
            state.startedAt = time
            state.summary = "Started."
        }
    }

    /// Stops the work (it ends as `stop.state`); false when it has already ended or been stopped.
    @discardableResult
    func stop(_ stop: JobStop) -> Bool {
        let task = state.withLockedValue { state -> Task<Void, Never>?? in
            guard !state.phase.isFinal, state.stop == nil else { return nil }
            state.stop = stop
            return .some(state.task)
        }
        guard let task else { return false }
        task?.cancel()
        return true
    }

    var stopReason: JobStop? { state.withLockedValue { $0.stop } }

    var task: Task<Void, Never>? { state.withLockedValue { $0.task } }

    /// Ends it: watchers get the last snapshot, then their streams finish.
    func finish(_ phase: JobRecord.State, message: String?, at time: Date = Date()) {
        let watchers = state.withLockedValue { state -> [AsyncStream<Void>.Continuation] in
            state.phase = phase
            state.endedAt = time
            state.message = message.map { String($0.prefix(1024)) }
            let watchers = Array(state.watchers.values)
            state.watchers = [:]
            return watchers
        }
        for watcher in watchers {
            watcher.yield()
            watcher.finish()
        }
    }

    // MARK: - Watching

    /// One element now and one after each change (changes in between fold into one); finishes after the job ended.
    func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        continuation.yield()
        let id = state.withLockedValue { state -> Int? in
            guard !state.phase.isFinal else { return nil }
            defer { state.nextWatcher += 1 }
            state.watchers[state.nextWatcher] = continuation
            return state.nextWatcher
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLockedValue { _ = $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    var watcherCount: Int { state.withLockedValue { $0.watchers.count } }

    /// The state and progress, with the log lines numbered `after` and later.
    func snapshot(logAfter first: Int = 0) -> JobSnapshot {
        state.withLockedValue { state in
            let skip = max(0, first - state.logFrom)
            let from = state.logFrom + min(skip, state.log.count)
            return JobSnapshot(
                id: id, state: state.phase, summary: state.summary, current: state.current, total: state.total, items: state.items,
                message: state.message, startedAt: state.startedAt.map(AuditText.timestamp),
                endedAt: state.endedAt.map(AuditText.timestamp), log: Array(state.log.dropFirst(skip)), logFrom: from,
                logNext: state.logFrom + state.log.count
            )
        }
    }

    /// The row as it stands: the last snapshot as its progress and the log's last lines once it ended.
    var record: JobRecord {
        let snapshot = snapshot()
        let times = state.withLockedValue { ($0.startedAt, $0.endedAt) }
        var record = JobRecord(
            kind: kind.rawValue, title: title, target: target, owner: owner, state: snapshot.state, createdAt: createdAt, engine: engine
        )
        record.id = id
        record.startedAt = times.0
        record.endedAt = times.1
        record.message = snapshot.message
        if snapshot.ended {
            let progress = JobSnapshot(
                id: id, state: snapshot.state, summary: snapshot.summary, current: snapshot.current, total: snapshot.total,
                items: snapshot.items, message: snapshot.message, startedAt: snapshot.startedAt, endedAt: snapshot.endedAt, log: [],
                logFrom: snapshot.logNext, logNext: snapshot.logNext
            )
            record.progress = (try? JSONEncoder().encode(progress)).map { String(decoding: $0, as: UTF8.self) }
            record.log = snapshot.log.joined(separator: "\n")
        }
        return record
    }

    private func changed(_ update: (inout State) -> Void) {
        let watchers = state.withLockedValue { state -> [AsyncStream<Void>.Continuation] in
            update(&state)
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield() }
    }
}
