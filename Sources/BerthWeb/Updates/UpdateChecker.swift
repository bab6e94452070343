import BerthStore
import EngineAPI
import Foundation
import Logging
import ServiceLifecycle

/// Asks registries whether the images running containers use have newer versions: for each tag a running container
/// was started with, the digest the tag names now (a manifest `HEAD`, no pull) against the digests of the image the
/// container runs. On demand (a job anyone who pulls may start) and on a schedule (`--update-check-interval`, a job of
/// Berth's own). A registry that fails is asked again later, waiting twice as long after each failure (up to the
/// interval); within one check a registry that did not answer is not asked again.
final class UpdateChecker: Service, Sendable {
    let engine: EngineClient
    let registry: RegistryClient
    let database: AppDatabase
    let logins: RegistryLogins
    let audit: AuditTrail
    let jobs: JobBoard
    /// Seconds between checks of each tag; 0 turns the scheduled checks off.
    let interval: Int
    let logger: Logger
    /// Where the pages read the findings.
    let marks: UpdateMarks
    /// Told of containers whose image newly has an update (the alert rules on updates).
    let alerts: AlertWatcher?

    /// The first wait after a failed check; it doubles with each failure in a row, up to the interval.
    static let firstRetry: TimeInterval = 60

    init(
        engine: EngineClient, registry: RegistryClient, database: AppDatabase, logins: RegistryLogins, audit: AuditTrail, jobs: JobBoard,
        interval: Int, marks: UpdateMarks, alerts: AlertWatcher? = nil, logger: Logger
    ) {
        self.marks = marks
        self.alerts = alerts
        self.engine = engine
        self.registry = registry
        self.database = database
        self.logins = logins
        self.audit = audit
        self.jobs = jobs
        self.interval = interval
        self.logger = logger
    }

    /// A tag some running containers were started with, and the images they run from it.
    struct InUse: Sendable {
        let reference: String
        let imageIds: Set<String>
        var containers: [UsingContainer] = []
    }

    struct UsingContainer: Sendable {
        let id: String
        let name: String
        let imageId: String
        let labels: [String: String]
    }

    /// Starts a check of every tag in use now, as a job. `user` nil: Berth's own (shared logins only).
    func checkNow(context: some AuditContext, user: String?) async -> JobBoard.Started {
        await start(context: context, user: user, onlyDue: false)
    }

    private func start(context: some AuditContext, user: String?, onlyDue: Bool) async -> JobBoard.Started {
        let work: JobBoard.Work = { [self] job, record in
            try await run(job: job, record: &record, context: context.auditOrigin, user: user, onlyDue: onlyDue)
        }
        return await jobs.start(
            .imageUpdateCheck, title: onlyDue ? "Scheduled update check" : "Update check", context: context, owner: user ?? "berth",
            targetType: "image", targetName: nil, parameters: ["scheduled": onlyDue ? "1" : "0"], work: work
        )
    }

    /// The tags running containers were started with (not those started by id or digest: nothing to update).
    func tagsInUse() async throws -> [InUse] {
        var byReference: [String: Set<String>] = [:]
        var users: [String: [UsingContainer]] = [:]
        for container in try await engine.listContainers(all: false) {
            guard var image = container.image, let imageId = container.imageID else { continue }
            // The list names the image by id once its tag moved to another image (a newer one pulled here): the name
            // the container was started with is in its configuration.
            if image.hasPrefix("sha256:") || imageId.dropFirst(7).hasPrefix(image) {
                guard let configured = try? await engine.inspectContainer(container.id).config?.image else { continue }
                image = configured
            }
            guard !image.hasPrefix("sha256:"), !image.contains("@"), (try? ImageReference(parsing: image)) != nil else { continue }
            byReference[image, default: []].insert(imageId)
            users[image, default: []].append(
                UsingContainer(id: container.id, name: container.name, imageId: imageId, labels: container.labels ?? [:])
            )
        }
        return byReference.map { InUse(reference: $0.key, imageIds: $0.value, containers: users[$0.key] ?? []) }
            .sorted { $0.reference < $1.reference }
    }

    private func run(
        job: Job, record: inout AuditTrail.ActionRecord, context: AuditOrigin, user: String?, onlyDue: Bool
    ) async throws -> String {
        let inUse = try await tagsInUse()
        let stored = try await database.imageUpdatesByKey()
        let now = Date()
        var items: [JobItem] = inUse.map { JobItem(id: $0.reference, status: "waiting", done: false) }
        var findings: [ImageUpdate] = []
        /// Registries that did not answer in this check: asked no more this time.
        var down: [String: String] = [:]
        var counts = (checked: 0, available: 0, failed: 0)
        job.report(summary: "\(inUse.count) tag(s) in use", total: Int64(inUse.count), items: items)
        for (index, use) in inUse.enumerated() {
            try Task.checkCancellation()
            let previous = use.imageIds.compactMap { stored[ImageUpdate.key(reference: use.reference, imageId: $0)] }
            if onlyDue, !previous.isEmpty, previous.count == use.imageIds.count,
               previous.allSatisfy({ !isDue($0, now: now) }) {
                items[index].status = "not due"
                items[index].done = true
                continue
            }
            let reference = try ImageReference(parsing: use.reference)
            let registryName = RegistryLogins.registry(of: reference)
            var found: [ImageUpdate]
            if let reason = down[registryName] {
                found = failed(use, previous: previous, message: reason, now: now)
            } else {
                do {
                    let saved = try await logins.use(for: registryName, by: user, audit: audit, context: context, reference: use.reference)
                    let digest = try await registry.digest(of: reference, credentials: saved?.credentials)
                    found = try await compare(use, reference: reference, remote: digest, now: now)
                } catch let error as RegistryError {
                    if case .unavailable = error { down[registryName] = error.description }
                    found = failed(use, previous: previous, message: error.description, now: now)
                } catch let error as AuditTrail.ActionFailure {
                    found = failed(use, previous: previous, message: error.message, now: now)
                }
            }
            counts.checked += 1
            if found.contains(where: { $0.state == .available }) { counts.available += 1 }
            if found.contains(where: { $0.state == .failed }) { counts.failed += 1 }
            findings += found
            items[index].status = Self.describe(found)
            items[index].done = true
            job.log("\(use.reference): \(items[index].status)")
            job.report(summary: "\(index + 1) of \(inUse.count) tag(s) looked at", current: Int64(index + 1), total: Int64(inUse.count), items: items)
        }
        let inUseKeys = Set(inUse.flatMap { use in use.imageIds.map { ImageUpdate.key(reference: use.reference, imageId: $0) } })
        try await database.saveImageUpdates(findings, keepingOnly: inUseKeys)
        marks.replace(with: try await database.imageUpdates())
        // Newly found updates: the alert rules on updates hear of each container that runs such an image.
        let moment = AuditText.timestamp(now)
        var newly: [AlertableEvent] = []
        for finding in findings where finding.state == .available && stored[finding.key]?.state != .available {
            for container in inUse.first(where: { $0.reference == finding.reference })?.containers ?? [] where container.imageId == finding.imageId {
                let detail = "newer image for \(finding.reference): \(UpdatesController.short(finding.remoteDigest ?? ""))"
                newly.append(AlertableEvent(
                    kind: .update, container: .init(id: container.id, name: container.name, detail: detail, time: moment),
                    labels: container.labels, timeNano: 0
                ))
            }
        }
        alerts?.report(newly)
        record.add(["checked": String(counts.checked), "updates": String(counts.available), "failed": String(counts.failed)])
        return "Checked \(counts.checked) tag(s): \(counts.available) with a newer image, \(counts.failed) could not be checked."
    }

    /// Whether a scheduled check asks about it now: checked longer than the interval ago, or failed and its wait over.
    func isDue(_ update: ImageUpdate, now: Date) -> Bool {
        if update.state == .failed { return (update.retryAt ?? .distantPast) <= now }
        return update.checkedAt.addingTimeInterval(TimeInterval(max(interval, 1))) <= now
    }

    /// The images in use against what the tag names now.
    private func compare(_ use: InUse, reference: ImageReference, remote: String, now: Date) async throws -> [ImageUpdate] {
        var found: [ImageUpdate] = []
        for imageId in use.imageIds.sorted() {
            // Only digests from this repository count: an image also known under another name has other digests.
            let repository = RegistryClient.familiar(reference.repository)
            let digests = ((try? await engine.inspectImage(imageId))?.repoDigests ?? []).compactMap { entry -> String? in
                let parts = entry.split(separator: "@", maxSplits: 1)
                guard parts.count == 2, RegistryClient.familiar(String(parts[0])) == repository else { return nil }
                return String(parts[1])
            }
            let state: ImageUpdate.State = digests.isEmpty ? .unknown : digests.contains(remote) ? .current : .available
            found.append(ImageUpdate(
                reference: use.reference, imageId: imageId, state: state, remoteDigest: remote, localDigest: digests.first,
                message: state == .unknown ? "The image came from no registry (built, committed or loaded here): nothing to compare." : nil,
                checkedAt: now
            ))
        }
        return found
    }

    private func failed(_ use: InUse, previous: [ImageUpdate], message: String, now: Date) -> [ImageUpdate] {
        use.imageIds.sorted().map { imageId in
            let before = previous.first { $0.imageId == imageId }
            let failures = (before?.state == .failed ? before?.failures ?? 0 : 0) + 1
            let wait = min(Self.firstRetry * pow(2, Double(failures - 1)), TimeInterval(max(interval, 1)))
            return ImageUpdate(
                reference: use.reference, imageId: imageId, state: .failed, remoteDigest: before?.remoteDigest,
                localDigest: before?.localDigest, message: message, checkedAt: now, failures: failures, retryAt: now.addingTimeInterval(wait)
            )
        }
    }

    static func describe(_ found: [ImageUpdate]) -> String {
        if let failure = found.first(where: { $0.state == .failed }) { return "could not be checked: \(failure.message ?? "")" }
        if found.contains(where: { $0.state == .available }) { return "update available (\(found.first?.remoteDigest?.prefix(19) ?? ""))" }
        if found.allSatisfy({ $0.state == .unknown }) { return "no registry digest to compare" }
        return "up to date"
    }

    // MARK: - The schedule

    /// How often the schedule looks for tags that are due: often enough for a retry's wait, never more than the
    /// interval.
    var tick: Duration { .seconds(max(1, min(interval, Int(Self.firstRetry)))) }

    /// Every `tick`, a job of Berth's own for the tags that are due, if any; until shutdown.
    func run() async throws {
        guard interval > 0 else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.tick)
                guard !Task.isCancelled else { return }
                await self.scheduledRound()
            }
        }
    }

    /// Starts a scheduled check when some tag in use is due and no check runs; waits for it to end.
    func scheduledRound() async {
        guard !jobs.runningJobs.contains(where: { $0.kind == .imageUpdateCheck }) else { return }
        do {
            let inUse = try await tagsInUse()
            let stored = try await database.imageUpdatesByKey()
            let now = Date()
            let due = inUse.contains { use in use.imageIds.contains { stored[ImageUpdate.key(reference: use.reference, imageId: $0)].map { isDue($0, now: now) } ?? true } }
            guard due else { return }
        } catch {
            logger.debug("scheduled update check skipped", metadata: ["error": "\(error)"])
            return
        }
        if case .started(let job) = await start(context: AuditOrigin.berth("update check", engine: EngineDefinition.localName), user: nil, onlyDue: true) {
            // Shutdown cancels this wait: the check stops with it instead of holding the shutdown up.
            await withTaskCancellationHandler {
                await job.task?.value
            } onCancel: {
                job.stop(.shutdown)
            }
        }
    }
}
