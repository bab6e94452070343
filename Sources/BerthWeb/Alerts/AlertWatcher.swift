import BerthStore
import EngineAPI
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Turns the engine's events into alerts, with nobody signed in: it follows the shared `/events` upstream, matches
/// each container event against the rules, and gathers what one rule matches until the events go quiet (and at most
/// one message per rule every `minInterval`) into one message per channel, queued in the database together with how far
/// it has read. After a restart (or a gap in the stream) it reads the engine's events from there again, so nothing
/// in between is missed and nothing is told twice.
final class AlertWatcher: Service, Sendable {
    let engine: EngineClient
    let events: Broadcaster<EngineEventMessage>
    let database: AppDatabase
    let sender: AlertSender
    let engineName: String
    let logger: Logger
    /// A rule's message goes once no new match came for `quiet` (fifty containers dying within a few seconds are one
    /// message), at the latest `maxWait` after its first match, and never sooner than `minInterval` after its last.
    let quiet: Duration
    let maxWait: Duration
    let minInterval: Duration
    private let rules = NIOLockedValueBox<[CompiledAlertRule]>([])
    private let rulesChanged = WakeSignal()
    /// Alertable things that are not engine events (an update check's findings), taken in by the watch loop.
    private let inbox = NIOLockedValueBox<[AlertableEvent]>([])

    /// Tells the rules about something found elsewhere (a newer image); dropped when no rule watches.
    func report(_ events: [AlertableEvent]) {
        guard hasRules, !events.isEmpty else { return }
        inbox.withLockedValue { $0 += events }
    }

    init(
        engine: EngineClient, events: Broadcaster<EngineEventMessage>, database: AppDatabase, sender: AlertSender, engineName: String,
        logger: Logger, quiet: Duration = .seconds(1), maxWait: Duration = .seconds(10), minInterval: Duration = .seconds(10)
    ) {
        self.engine = engine
        self.events = events
        self.database = database
        self.sender = sender
        self.engineName = engineName
        self.logger = logger
        self.quiet = quiet
        self.maxWait = maxWait
        self.minInterval = minInterval
    }

    /// Reads the rules again (after one was saved or removed).
    func reloadRules() async {
        // A read that fails keeps the rules there were (rather than turning alerts off); the next reload tries again.
        guard let stored = try? await database.alertRules() else {
            logger.error("alerts: cannot read the rules; keeping the ones loaded before")
            return
        }
        rules.withLockedValue { $0 = stored.compactMap(CompiledAlertRule.init) }
        rulesChanged.fire()
    }

    private var hasRules: Bool { rules.withLockedValue { !$0.isEmpty } }

    /// Watches while there are rules (the events upstream costs an engine connection only then). At start it reads on
    /// from where the last run left; after a time without rules, from now: nothing was to be told meanwhile.
    func run() async throws {
        await reloadRules()
        await cancelWhenGracefulShutdown {
            var resume = true
            while !Task.isCancelled {
                guard self.hasRules else {
                    resume = false
                    await self.rulesChanged.wait(upTo: .seconds(3600))
                    continue
                }
                // After a stream given up (it fell too far behind), read on from the cursor; after the last rule went, from now.
                resume = await self.watch(resume: resume)
            }
        }
    }

    /// What one rule has gathered and not yet sent.
    private struct Batch {
        var containers: [AlertMessage.Container] = []
        var kinds: Set<AlertRule.Event> = []
        var earliestNano: Int64 = .max
        var firstMatch: ContinuousClock.Instant
        var flushAt: ContinuousClock.Instant
    }

    private struct Progress {
        /// Every event at or before this (engine nanoseconds) has been dealt with, on record in the database.
        var cursor: Int64
        /// The newest event dealt with in memory.
        var latest: Int64
        var batches: [Int64: Batch] = [:]
        var lastSent: [Int64: ContinuousClock.Instant] = [:]
        /// Events seen in this run (replays overlap the live stream).
        var seen: Set<String> = []
        var lastCursorSave = ContinuousClock.now
        /// Recent deaths per container (engine nanoseconds), for restart loops.
        var deaths: [String: [Int64]] = [:]
        /// When a rule last told of a container's restart loop.
        var loopTold: [String: Int64] = [:]
        /// How far each rule's queued messages reached when this watch began: a replay does not tell those events again.
        var marks: [Int64: Int64] = [:]
    }

    /// Returns whether the next watch should read on from the cursor (false when it ended because no rule is left).
    private func watch(resume: Bool) async -> Bool {
        let mailbox = Mailbox<EngineEventMessage>(capacity: 4096)
        events.subscribe(mailbox, to: EventsController.topic)
        defer { events.unsubscribe(mailbox, from: EventsController.topic) }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                mailbox.tick()
            }
        }
        defer { ticker.cancel() }

        let now = Self.nanos(Date())
        let stored = resume ? (try? await database.alertCursor()).flatMap { Int64($0) } : nil
        var progress = Progress(cursor: stored ?? now, latest: stored ?? now)
        progress.marks = (try? await database.alertRuleMarks()) ?? [:]
        if stored == nil { try? await database.setAlertCursor(String(now)) }
        await replay(&progress)
        while let item = await mailbox.next() {
            switch item {
            case .element(.event(let shared)):
                take(shared.event, &progress)
            case .element(.engine(up: true, _)), .gap:
                // Something may have passed unseen: read it from the engine.
                await replay(&progress)
            case .element(.engine(up: false, _)):
                break
            case .heartbeat:
                break
            }
            for event in inbox.withLockedValue({ inbox in defer { inbox.removeAll() }; return inbox }) {
                // Not an engine event: it must not move the cursor past events still to come.
                let event = AlertableEvent(kind: event.kind, container: event.container, labels: event.labels, timeNano: progress.latest)
                for rule in rules.withLockedValue({ $0 }) where rule.matches(event) { add(event, to: rule, &progress, fromEngine: false) }
            }
            await flushDue(&progress)
            // The last rule is gone: stop following the events (and let the upstream close).
            if !hasRules, progress.batches.isEmpty { return false }
        }
        // Shutting down (this task is cancelled, and the database refuses writes from it): what is gathered is queued
        // from a task of its own.
        var last = progress
        await Task { [self] in await self.flushDue(&last, all: true) }.value
        return true
    }

    /// The engine's events since the cursor, up to now.
    private func replay(_ progress: inout Progress) async {
        let since = progress.cursor
        do {
            let lines = try await engine.events(since: Self.timestamp(since), until: Self.timestamp(Self.nanos(Date())))
            for try await event in lines { take(event, &progress) }
        } catch {
            logger.warning("alerts: cannot read the engine's events to catch up", metadata: ["error": "\(error)"])
        }
    }

    private func take(_ event: EngineEvent, _ progress: inout Progress) {
        let time = event.timeNano ?? (event.time ?? 0) * 1_000_000_000
        guard time > progress.cursor else { return }
        let key = "\(time) \(event.actor?.id ?? "") \(event.action ?? "")"
        guard progress.seen.insert(key).inserted else { return }
        if progress.seen.count > 10_000 { progress.seen.removeAll(keepingCapacity: true) }
        progress.latest = max(progress.latest, time)
        if event.type == "container", event.action == "die", let id = event.actor?.id { countDeath(of: id, event, at: time, &progress) }
        guard let alertable = AlertableEvent(event) else { return }
        for rule in rules.withLockedValue({ $0 }) where rule.matches(alertable) { add(alertable, to: rule, &progress) }
    }

    /// A restart loop: more than a rule's count of deaths within its minutes, told once per window.
    private func countDeath(of id: String, _ event: EngineEvent, at time: Int64, _ progress: inout Progress) {
        let looping = rules.withLockedValue { $0 }.filter { $0.events.contains(.restarting) }
        guard !looping.isEmpty else { return }
        let longest = Int64(looping.map(\.rule.restartMinutes).max() ?? 10) * 60_000_000_000
        var deaths = (progress.deaths[id] ?? []).filter { $0 > time - longest }
        deaths.append(time)
        progress.deaths[id] = deaths
        let attributes = event.actor?.attributes ?? [:]
        let name = attributes["name"] ?? String(id.prefix(12))
        for rule in looping where rule.selects(name: name, labels: attributes) {
            let window = Int64(rule.rule.restartMinutes) * 60_000_000_000
            let count = deaths.filter { $0 > time - window }.count
            let key = "\(rule.id) \(id)"
            guard count > rule.rule.restartCount, (progress.loopTold[key] ?? .min) <= time - window else { continue }
            progress.loopTold[key] = time
            let moment = AuditText.timestamp(Date(timeIntervalSince1970: TimeInterval(time) / 1e9))
            let container = AlertMessage.Container(
                id: id, name: name, detail: "\(count) restarts in \(rule.rule.restartMinutes) min", time: moment
            )
            add(AlertableEvent(kind: .restarting, container: container, labels: attributes, timeNano: time), to: rule, &progress)
        }
        if progress.deaths.count > 5000 { progress.deaths = progress.deaths.filter { $0.value.last ?? 0 > time - longest } }
    }

    private func add(_ alertable: AlertableEvent, to rule: CompiledAlertRule, _ progress: inout Progress, fromEngine: Bool = true) {
        // Already in a message this rule queued before a crash (the cursor stayed behind for another rule's sake).
        if fromEngine, let mark = progress.marks[rule.id], alertable.timeNano <= mark { return }
        let now = ContinuousClock.now
        var batch = progress.batches[rule.id] ?? Batch(firstMatch: now, flushAt: now)
        let notBefore = progress.lastSent[rule.id].map { $0 + minInterval } ?? now
        batch.flushAt = max(min(now + quiet, batch.firstMatch + maxWait), notBefore)
        if !batch.containers.contains(where: { $0.id == alertable.container.id && $0.detail == alertable.container.detail }) {
            batch.containers.append(alertable.container)
        }
        batch.kinds.insert(alertable.kind)
        batch.earliestNano = min(batch.earliestNano, alertable.timeNano)
        progress.batches[rule.id] = batch
    }

    /// Queues the batches that are due, with the cursor moved as far as nothing unsent lies behind it.
    private func flushDue(_ progress: inout Progress, all: Bool = false) async {
        let now = ContinuousClock.now
        let due = progress.batches.filter { all || $0.value.flushAt <= now }
        let rulesById = Dictionary(rules.withLockedValue { $0 }.map { ($0.id, $0.rule) }) { first, _ in first }
        var deliveries: [AlertDelivery] = []
        for (ruleId, batch) in due {
            guard let rule = rulesById[ruleId] else { continue }
            let kinds = batch.kinds.map(\.rawValue).sorted().joined(separator: "+")
            let message = AlertMessage(rule: rule.name, event: kinds, containers: batch.containers, engine: engineName)
            for channel in rule.channelIds {
                deliveries.append(AlertDelivery(channelId: channel, ruleId: ruleId, message: message.json))
            }
        }
        let remaining = progress.batches.filter { due[$0.key] == nil }
        let cursor = remaining.values.map { $0.earliestNano - 1 }.min() ?? progress.latest
        guard !due.isEmpty || (cursor > progress.cursor && now - progress.lastCursorSave > .seconds(5)) else { return }
        do {
            // Each flushed rule has told of everything it matched up to the newest event read.
            let marks = Dictionary(due.keys.map { ($0, progress.latest) }) { a, _ in a }
            try await database.queueAlertDeliveries(deliveries, cursor: String(cursor), marks: marks)
            progress.cursor = cursor
            progress.lastCursorSave = now
            for ruleId in due.keys { progress.lastSent[ruleId] = now }
            progress.batches = remaining
            if !deliveries.isEmpty { sender.wake() }
        } catch {
            logger.error("alerts: cannot queue messages; trying again", metadata: ["error": "\(error)"])
        }
    }

    static func nanos(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1e9) }

    static func timestamp(_ nanos: Int64) -> LogTimestamp {
        LogTimestamp(seconds: nanos / 1_000_000_000, nanoseconds: Int32(nanos % 1_000_000_000))
    }
}
