import BerthStore
import Foundation
import Hummingbird

/// Jobs: the list, one job's page with its live progress, and cancelling.
struct JobsController: Sendable {
    let jobs: JobBoard
    let audit: AuditTrail
    let views: PageRenderer
    let streamer: EventStreamer
    let engines: EngineAccess

    func addRoutes(to routes: Routes) {
        // Anyone signed in may open these; each job is shown only to those who may start one like it.
        routes.get("/jobs", .viewContainers, use: list)
        routes.get("/jobs/{id}", .viewContainers, use: show)
        routes.get("/jobs/{id}/stream", .viewContainers, use: stream)
        routes.post("/jobs/{id}/cancel", .operateContainers, audit: .jobCancel, use: cancel)
    }

    /// A job the user may see: live, or from its row. 404 for one they may not see, with the same words.
    func find(_ context: SignedInContext) async throws -> (JobRecord, Job?) {
        let raw = try context.parameters.require("id")
        let missing = HTTPError(.notFound, message: "No such job: \(raw.prefix(32)).")
        guard let id = Int64(raw) else { throw missing }
        let job = jobs.running(id)
        let record: JobRecord
        if let job {
            record = job.record
        } else {
            guard let stored = try await jobs.database.job(id: id) else { throw missing }
            record = stored
        }
        guard let user = user(context.user, on: record), JobBoard.canSee(kind: JobKind(rawValue: record.kind), owner: record.owner, user: user)
        else { throw missing }
        return (record, job)
    }

    /// The user as they stand on the job's engine (its role there); nil when they have none. A job of an engine
    /// Berth no longer has is left to admins.
    func user(_ user: SignedInUser, on record: JobRecord) -> SignedInUser? {
        guard let name = record.engine else { return user }
        guard let engine = engines.directory.named(name) else { return user.globalRole == .admin ? user : nil }
        return engines.roles.user(user, on: engine)
    }

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let live = jobs.runningJobs
        let liveIDs = Set(live.map(\.id))
        let stored = try await jobs.database.recentJobs()
        let records: [(JobRecord, JobSnapshot?)] = live.map { ($0.record, $0.snapshot(logAfter: Int.max)) }
            + stored.filter { !liveIDs.contains($0.id ?? -1) }.map { ($0, nil) }
        let visible = records.filter { record, _ in
            user(context.user, on: record).map { JobBoard.canSee(kind: JobKind(rawValue: record.kind), owner: record.owner, user: $0) } ?? false
        }
        return try views.page("jobs", JobListPage(records: visible, preferences: context.preferences), context: context)
    }

    @Sendable func show(_ request: Request, context: SignedInContext) async throws -> Response {
        let (record, job) = try await find(context)
        let snapshot = job?.snapshot() ?? JobSnapshot.stored(in: record)
        let log = job == nil ? record.logLines : snapshot?.log ?? []
        let canCancel = user(context.user, on: record).map {
            JobBoard.canCancel(kind: JobKind(rawValue: record.kind), owner: record.owner, user: $0)
        } ?? false
        let page = JobPage(record: record, snapshot: snapshot, log: log.filter { !$0.isEmpty }, canCancel: canCancel, preferences: context.preferences)
        return try views.page("job", page, context: context)
    }

    /// `GET /jobs/{id}/stream`: the job's state and progress at most ten times a second, log lines after
    /// `Last-Event-ID` (the page's last line); ends with the job. Watching changes nothing of the job.
    @Sendable func stream(_ request: Request, context: SignedInContext) async throws -> Response {
        let (record, job) = try await find(context)
        let after = max(0, request.lastEventID.flatMap { Int($0) } ?? 0)
        // Its engine's role is asked again at each heartbeat, as on that engine's own pages.
        let watched = record.engine.flatMap { engines.directory.named($0) }.map { [$0] } ?? []
        guard let job else {
            // Ended: its last state, once.
            let snapshot = JobSnapshot.stored(in: record)
                ?? JobSnapshot(
                    id: record.id ?? 0, state: record.state, summary: "", current: 0, total: 0, items: [], message: record.message,
                    startedAt: record.startedAt.map(AuditText.timestamp), endedAt: record.endedAt.map(AuditText.timestamp), log: [],
                    logFrom: 0, logNext: 0
                )
            return streamer.response(for: context, engines: watched, render: Self.render, produce: { mailbox in
                _ = await mailbox.send(snapshot)
            })
        }
        return streamer.response(for: context, engines: watched, capacity: 4, render: Self.render, produce: { mailbox in
            var next = after
            for await _ in job.changes() {
                let snapshot = job.snapshot(logAfter: next)
                next = snapshot.logNext
                guard await mailbox.send(snapshot), !snapshot.ended else { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
            _ = await mailbox.send(job.snapshot(logAfter: next))
        })
    }

    @Sendable static func render(_ snapshot: JobSnapshot) -> ServerSentEvent? {
        var event = ServerSentEvent(event: "job", id: String(snapshot.logNext), encoding: snapshot)
        event.endsStream = snapshot.ended
        return event
    }

    /// `POST /jobs/{id}/cancel`: its owner or an admin; the job ends cancelled, its own row says by whom.
    @Sendable func cancel(_ request: Request, context: SignedInContext) async throws -> Response {
        let raw = try context.parameters.require("id")
        let page = "/jobs/\(Int64(raw).map(String.init) ?? "")"
        let found = try? await find(context)
        guard let (record, job) = found else {
            return await audit.refuseInput(context: context, targetType: "job", targetId: String(raw.prefix(32)), message: "No such job.", back: "/jobs")
        }
        guard let onEngine = user(context.user, on: record),
            JobBoard.canCancel(kind: JobKind(rawValue: record.kind), owner: record.owner, user: onEngine)
        else {
            await audit.record(
                outcome: .denied, context: context, targetType: "job", targetId: raw, targetName: record.title,
                error: "only its owner and admins cancel a job"
            )
            return .redirect(to: page, flash: Flash(.error, "Only the one who started this job, or an administrator, can cancel it."))
        }
        let user = context.user.username
        return await audit.perform(context: context, targetType: "job", targetId: raw, targetName: record.title, back: page) {
            guard let job, job.stop(.cancelled(by: user)) else { throw AuditTrail.ActionFailure("This job has already ended.") }
            await job.task?.value
            let ended = job.snapshot().state
            guard ended == .cancelled else { throw AuditTrail.ActionFailure("The job ended (\(ended.rawValue)) before the cancel reached it.") }
            return "Cancelled."
        }
    }
}
