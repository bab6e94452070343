import BerthStore
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs jobs on the server, apart from any page: starting one returns at once; its page (anyone's who may see it)
/// watches it live and can be closed and opened again. At most `maxRunning` run at once, the others wait in turn.
///
/// Every job is audited twice: a `job.start` row before it is queued (nothing is queued unless it is written), and
/// its own action's row when it ends (through `AuditTrail.act`, so a crash leaves a trace). When Berth shuts down,
/// running jobs are stopped and end as interrupted; rows an earlier process left running are marked so at start.
final class JobBoard: Service, Sendable {
    /// The work of a job: reports progress on the job, writes what it learns into its audit record, returns the
    /// message it ends with, or throws (the job fails with the error's words). Whatever it holds (a registry
    /// password) lives only as long as this closure.
    typealias Work = @Sendable (Job, inout AuditTrail.ActionRecord) async throws -> String

    let database: AppDatabase
    let audit: AuditTrail
    let logger: Logger
    private let turns: AsyncGate
    private let live = NIOLockedValueBox<[Int64: Job]>([:])
    /// The exclusive keys of queued and running jobs.
    private let reserved = NIOLockedValueBox<Set<String>>([])

    init(database: AppDatabase, audit: AuditTrail, maxRunning: Int, logger: Logger) {
        self.database = database
        self.audit = audit
        self.logger = logger
        turns = AsyncGate(permits: max(1, maxRunning))
    }

    /// Marks what an earlier process left queued or running as interrupted. Before serving.
    static func interruptLeftovers(in database: AppDatabase, logger: Logger) async throws {
        let count = try await database.interruptLeftoverJobs(message: Job.interruptedMessage)
        if count > 0 { logger.warning("jobs left running by an earlier process marked interrupted", metadata: ["jobs": "\(count)"]) }
    }

    enum Started {
        case started(Job)
        /// Nothing was queued: its start could not be written (the database, the audit trail).
        case refused
        /// Nothing was queued: a job holding the same exclusive key is queued or running.
        case busy

        /// What the request that started it answers: the job's page, or `back` with the refusal.
        func answer(back: String) -> Response {
            switch self {
            case .refused: .redirect(to: back, flash: Flash(.error, AuditTrail.unavailableMessage))
            case .busy: .redirect(to: back, flash: Flash(.error, "Another job on this is under way: wait for it to end."))
            case .started(let job): Response(status: .seeOther, headers: [.location: "/jobs/\(job.id)", .cacheControl: "no-store"])
            }
        }
    }

    /// Queues a job and returns at once.
    /// - Parameters:
    ///   - parameters: what the start and end rows record (never a secret).
    ///   - exclusive: a key only one queued or running job may hold (`project:NAME`: two deploys of one project would
    ///     make the same containers); taken before anything else, so two requests at once can't both pass.
    func start(
        _ kind: JobKind, title: String, context: some AuditContext, owner: String, targetType: String, targetName: String?,
        parameters: [String: String], exclusive: String? = nil, work: @escaping Work
    ) async -> Started {
        if let exclusive {
            guard reserved.withLockedValue({ $0.insert(exclusive).inserted }) else { return .busy }
        }
        let started = await queue(
            kind, title: title, context: context, owner: owner, targetType: targetType, targetName: targetName, parameters: parameters,
            exclusive: exclusive, work: work
        )
        if case .refused = started, let exclusive { _ = reserved.withLockedValue { $0.remove(exclusive) } }
        return started
    }

    private func queue(
        _ kind: JobKind, title: String, context: some AuditContext, owner: String, targetType: String, targetName: String?,
        parameters: [String: String], exclusive: String?, work: @escaping Work
    ) async -> Started {
        let origin = context.auditOrigin
        let stored: JobRecord
        do {
            stored = try await database.createJob(JobRecord(kind: kind.rawValue, title: title, target: targetName, owner: owner, engine: origin.engine))
        } catch {
            logger.error("cannot store a job", metadata: ["error": "\(error)"])
            await audit.record(
                kind.action, outcome: .error, context: origin, targetType: targetType, targetName: targetName, parameters: parameters,
                error: "not started: the job could not be stored (\(error))"
            )
            return .refused
        }
        guard let id = stored.id else { return .refused }
        let job = Job(id: id, kind: kind, title: title, target: targetName, owner: owner, createdAt: stored.createdAt, engine: origin.engine)
        let rowParameters = parameters.merging(["job": String(id), "kind": kind.rawValue]) { $1 }
        guard await audit.record(
            .jobStart, outcome: .ok, context: origin, targetType: "job", targetId: String(id), targetName: title, parameters: rowParameters
        ) else {
            job.finish(.failed, message: AuditTrail.unavailableMessage)
            await store(job, logger: logger)
            return .refused
        }
        live.withLockedValue { $0[id] = job }
        let task = Task { [self] in
            await run(job, origin: origin, targetType: targetType, targetName: targetName, parameters: rowParameters, work: work)
            if let exclusive { _ = reserved.withLockedValue { $0.remove(exclusive) } }
        }
        job.attach(task)
        return .started(job)
    }

    private func run(
        _ job: Job, origin: AuditOrigin, targetType: String, targetName: String?, parameters: [String: String], work: Work
    ) async {
        let turns = self.turns
        let database = self.database
        var ended: (JobRecord.State, String)
        do {
            let result = try await audit.act(
                job.kind.action, context: origin, targetType: targetType, targetName: targetName, parameters: parameters
            ) { record -> String in
                do {
                    guard await turns.acquire() else { throw CancellationError() }
                    defer { turns.release() }
                    job.markRunning()
                    await Self.store(job, in: database, logger: nil)
                    // Work that returned did what it says, even if a stop came meanwhile.
                    return try await work(job, &record)
                } catch {
                    if let stop = job.stopReason { record.fail(stop.message) }
                    throw error
                }
            }
            switch result {
            case .refused: ended = (.failed, AuditTrail.unavailableMessage)
            case .done(let message, recorded: true): ended = (.succeeded, message)
            case .done(let message, recorded: false): ended = (.succeeded, AuditTrail.unrecordedOutcome(message))
            }
        } catch {
            if let stop = job.stopReason {
                ended = (stop.state, stop.message)
            } else {
                ended = (.failed, AuditTrail.message(for: error))
            }
        }
        job.finish(ended.0, message: ended.1)
        await store(job, logger: logger)
        // Gone from memory only once its row tells how it ended: a page reads one or the other.
        _ = live.withLockedValue { $0.removeValue(forKey: job.id) }
    }

    /// Writes the job's row, also from a task that was cancelled (a job stopped): the write itself is not.
    private func store(_ job: Job, logger: Logger) async {
        await Self.store(job, in: database, logger: logger)
    }

    private static func store(_ job: Job, in database: AppDatabase, logger: Logger?) async {
        let record = job.record
        do {
            try await Task { try await database.updateJob(record) }.value
        } catch {
            logger?.error("cannot store a job's state", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// The job while it runs here.
    func running(_ id: Int64) -> Job? { live.withLockedValue { $0[id] } }

    var runningJobs: [Job] { live.withLockedValue { Array($0.values) }.sorted { $0.id > $1.id } }

    /// Whether `user` may see a job of `kind` started by `owner`: those who may start one like it.
    static func canSee(kind: JobKind?, owner: String, user: SignedInUser) -> Bool {
        guard let kind else { return user.role == .admin }
        return kind.permission.admits(user)
    }

    /// Whether `user` may cancel it: its owner (still allowed to start one) and admins.
    static func canCancel(kind: JobKind?, owner: String, user: SignedInUser) -> Bool {
        user.role == .admin || (owner == user.username && canSee(kind: kind, owner: owner, user: user))
    }

    // MARK: - Shutdown

    /// Waits for the server's shutdown, then stops the running jobs (they end interrupted, their rows written).
    func run() async throws {
        try? await gracefulShutdown()
        let jobs = live.withLockedValue { Array($0.values) }
        for job in jobs { job.stop(.shutdown) }
        for job in jobs { await job.task?.value }
    }
}
