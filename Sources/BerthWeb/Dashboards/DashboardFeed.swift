import EngineAPI
import Foundation
import NIOConcurrencyHelpers

/// One selected container as a dashboard shows it: nothing more than the status table needs (no environment, no
/// labels, no inspect JSON).
struct DashboardContainerStatus: Encodable, Sendable, Equatable {
    let id: String
    let shortId: String
    let name: String
    let image: String
    let state: String
    /// The engine's own words, such as `Up 5 minutes (healthy)`.
    let status: String
    let health: String?
    let startedAt: String?
    let restarts: Int
    /// Stored for the templates, which read stored properties only.
    let running: Bool
    let tty: Bool
    /// The last update check found a newer image for the tag it was started with.
    let updateAvailable: Bool

    init(_ summary: ContainerSummary, inspect: ContainerInspect?, updates: UpdateMarks) {
        id = summary.id
        shortId = String(summary.id.prefix(12))
        name = summary.name
        image = summary.image ?? ""
        state = summary.state ?? inspect?.state?.status ?? "unknown"
        status = summary.status ?? ""
        health = inspect?.state?.health?.status
        startedAt = (inspect?.state?.running ?? false) ? inspect?.state?.startedAt : nil
        restarts = inspect?.restartCount ?? 0
        running = state == "running"
        tty = inspect?.config?.tty ?? false
        updateAvailable = updates.updateAvailable(reference: inspect?.config?.image ?? summary.image, imageId: summary.imageID)
    }
}

/// What a dashboard's one stream carries.
enum DashboardMessage: Sendable {
    /// The whole status table, sent when something about the selection changed.
    case containers([DashboardContainerStatus])
    case event(EngineEvent)
    case stats(container: String, StatsPoint)
    /// Log lines (already redacted) and log status, as the log viewer's stream sends them.
    case logs(LogStreamMessage)
    case engine(up: Bool, message: String)

    /// What a message holds, for the stream's byte bound: log lines are what can be large.
    @Sendable static func weight(_ message: DashboardMessage) -> Int {
        if case .logs(let logs) = message { return LogStreamMessage.weight(logs) }
        return 256
    }
}

/// A dashboard as one request sees it: the record, where its pages are for this viewer, and its rules made ready.
struct DashboardScope: Sendable {
    let id: Int64
    let title: String
    let details: String
    let selection: DashboardSelection
    let showStatus: Bool
    let showStats: Bool
    let showEvents: Bool
    let showLogs: Bool
    let redactor: LogRedactor
    /// `/dashboards/{id}` for signed-in teammates, `/shared/{id}` for link viewers.
    let basePath: String

    /// The selected containers now, from one engine call.
    func containers(engine: EngineClient) async throws -> [ContainerSummary] {
        selection.select(try await engine.listContainers(all: true))
    }

    /// The selected container a request names by full id, id prefix or name; nil for anything outside the selection,
    /// whether or not such a container exists.
    func resolve(_ reference: String, engine: EngineClient) async throws -> ContainerSummary? {
        let selected = try await containers(engine: engine)
        let name = reference.hasPrefix("/") ? String(reference.dropFirst()) : reference
        if let byName = selected.first(where: { $0.name == name || $0.id == reference }) { return byName }
        guard reference.count >= 4, reference.allSatisfy(\.isHexDigit) else { return nil }
        let byPrefix = selected.filter { $0.id.hasPrefix(reference.lowercased()) }
        return byPrefix.count == 1 ? byPrefix[0] : nil
    }

    /// The status rows of the selected containers; each inspected (for health, restarts, start time) in parallel.
    static func statuses(
        of containers: [ContainerSummary], engine: EngineClient, updates: UpdateMarks
    ) async -> [DashboardContainerStatus] {
        await withTaskGroup(of: (Int, DashboardContainerStatus).self) { group in
            for (index, summary) in containers.enumerated() {
                group.addTask {
                    (index, DashboardContainerStatus(summary, inspect: try? await engine.inspectContainer(summary.id), updates: updates))
                }
            }
            var rows = [DashboardContainerStatus?](repeating: nil, count: containers.count)
            for await (index, row) in group { rows[index] = row }
            return rows.compactMap { $0 }
        }
    }
}

/// Fills a dashboard's stream: the status table whenever the selection changes (container events, and every
/// `refreshInterval` for what events don't tell), the selection's events, the running containers' stats, and their
/// logs when the dashboard shows logs. Events and stats come from the shared upstreams, so ten wall screens on one
/// dashboard cost the engine no more than one.
struct DashboardFeed: Sendable {
    let engine: EngineClient
    let updates: UpdateMarks
    let scope: DashboardScope
    let events: Broadcaster<EngineEventMessage>
    let stats: Broadcaster<StatsMessage>
    let tails: Broadcaster<LogStreamMessage>
    var refreshInterval: Duration = .seconds(30)
    var logTail = 100
    /// How many recent events a page starts with.
    var recentEvents = 30

    /// Container actions after which the status table is read again.
    static let statusActions: Set<String> = [
        "create", "start", "restart", "stop", "die", "kill", "pause", "unpause", "destroy", "rename", "oom", "update",
        "health_status",
    ]

    /// Events of containers not (yet) on the dashboard, held until the table is read again.
    static let maxWaitingEvents = 64

    func run(into mailbox: Mailbox<DashboardMessage>) async {
        let selected = NIOLockedValueBox<Set<String>>([])
        /// Events of containers not (yet) selected, with when they came.
        let waiting = NIOLockedValueBox<[(event: EngineEvent, at: ContinuousClock.Instant)]>([])
        let (triggers, trigger) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let eventBox = Mailbox<EngineEventMessage>(capacity: 256)
        events.subscribe(eventBox, to: EventsController.topic)
        defer { events.unsubscribe(eventBox, from: EventsController.topic) }
        var followers = Followers(stats: scope.showStats, logs: scope.showLogs)
        defer { followers.stopAll() }

        if scope.showEvents {
            for event in await recent() {
                guard await mailbox.send(.event(event)) else { return }
            }
        }
        let scope = self.scope
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while let item = await eventBox.next() {
                    guard case .element(let message) = item else {
                        trigger.yield()  // events were dropped: read the table again
                        continue
                    }
                    switch message {
                    case .engine(let up, let text):
                        mailbox.offer(.engine(up: up, message: text))
                        trigger.yield()
                    case .event(let event):
                        guard event.type == "container", let id = event.actor?.id else { continue }
                        let action = (event.action ?? "").split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                        // Only the containers the pages select (from the list, by their real labels) pass: an
                        // event's attributes mix labels with `name` and `image`, so they can't decide it. A
                        // container not selected yet may be new: its events wait for the next reading of the table.
                        if selected.withLockedValue({ $0.contains(id) }) {
                            if scope.showEvents { mailbox.offer(.event(event)) }
                        } else if scope.showEvents {
                            waiting.withLockedValue { waiting in
                                if waiting.count >= Self.maxWaitingEvents { waiting.removeFirst() }
                                waiting.append((event, .now))
                            }
                        }
                        if Self.statusActions.contains(action) { trigger.yield() }
                    }
                }
            }
            let interval = refreshInterval
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    trigger.yield()
                }
            }
            trigger.yield()
            var engineDown = false
            for await _ in triggers {
                if mailbox.isFinished { break }
                do {
                    let readingStarted = ContinuousClock.now
                    let containers = try await scope.containers(engine: engine)
                    if engineDown {
                        engineDown = false
                        mailbox.offer(.engine(up: true, message: "The engine answers again."))
                    }
                    let rows = await DashboardScope.statuses(of: containers, engine: engine, updates: updates)
                    let members = Set(rows.map(\.id))
                    selected.withLockedValue { $0 = members }
                    guard await mailbox.send(.containers(rows)) else { break }
                    // An event that came after this reading began may be of a container the reading could not
                    // see yet: it waits for the next one (which its own event triggered) instead of being dropped.
                    let held = waiting.withLockedValue { waiting in
                        let held = waiting.filter { members.contains($0.event.actor?.id ?? "") }
                        waiting.removeAll { members.contains($0.event.actor?.id ?? "") || $0.at < readingStarted }
                        return held
                    }
                    for item in held { mailbox.offer(.event(item.event)) }
                    followers.update(rows, start: { row, kind in follow(row, kind, into: mailbox) })
                } catch {
                    if !engineDown {
                        engineDown = true
                        mailbox.offer(.engine(up: false, message: "The engine can't be reached: \(error)"))
                    }
                }
                // Bursts of events (a compose project starting) cost one read, not one each.
                try? await Task.sleep(for: .milliseconds(500))
            }
            group.cancelAll()
        }
    }

    /// The selection's recent events, oldest first, from what the engine remembers.
    private func recent() async -> [EngineEvent] {
        let now = Date()
        var found: [EngineEvent] = []
        do {
            let members = Set(try await scope.containers(engine: engine).map(\.id))
            let stream = try await engine.events(since: LogTimestamp(date: now.addingTimeInterval(-3600)), until: LogTimestamp(date: now))
            for try await event in stream where event.type == "container" && members.contains(event.actor?.id ?? "") {
                found.append(event)
            }
        } catch {
            return []
        }
        return Array(found.suffix(recentEvents))
    }

    /// A task that passes one container's stats (from the shared upstream) or its logs (redacted) to the stream.
    private func follow(_ row: DashboardContainerStatus, _ kind: Followers.Kind, into mailbox: Mailbox<DashboardMessage>) -> Task<Void, Never> {
        let id = row.id
        switch kind {
        case .stats:
            let stats = self.stats
            return Task {
                let box = Mailbox<StatsMessage>(capacity: 4)
                stats.subscribe(box, to: id)
                defer { stats.unsubscribe(box, from: id) }
                while let item = await box.next() {
                    guard case .element(let message) = item else { continue }
                    switch message {
                    case .sample(let point): mailbox.offer(.stats(container: id, point))
                    case .engine: continue
                    case .ended: return
                    }
                }
            }
        case .logs:
            let redactor = scope.redactor
            let follower = LogFollower(
                engine: engine, tails: tails, container: id, tty: row.tty, tail: logTail, resumeAfter: nil, running: row.running
            ).sending(into: mailbox) { message in
                switch message {
                case .lines(let container, let lines):
                    return await mailbox.send(.logs(.lines(container: container, await redactor.redact(lines))))
                case .finished:
                    return true
                default:
                    return await mailbox.send(.logs(message))
                }
            }
            return Task { await follower.run() }
        }
    }
}

/// The per-container tasks of one dashboard stream: logs for the first selected containers (the follower itself
/// waits through stops and starts), stats for the running ones.
struct Followers {
    enum Kind: Sendable { case stats, logs }

    private var tasks: [String: Task<Void, Never>] = [:]
    let stats: Bool
    let logs: Bool

    init(stats: Bool = true, logs: Bool = true) {
        self.stats = stats
        self.logs = logs
    }

    /// Starts what newly selected (or newly running) containers need, stops what left.
    mutating func update(_ rows: [DashboardContainerStatus], start: (DashboardContainerStatus, Kind) -> Task<Void, Never>) {
        var wanted: [String: (DashboardContainerStatus, Kind)] = [:]
        for (index, row) in rows.enumerated() {
            // Each followed log is an engine connection of this page's own: as many as a merged log view allows.
            if logs && index < LogsController.maxContainers { wanted["logs:\(row.id)"] = (row, .logs) }
            if stats && row.running { wanted["stats:\(row.id)"] = (row, .stats) }
        }
        for (key, task) in tasks where wanted[key] == nil {
            task.cancel()
            tasks[key] = nil
        }
        for (key, (row, kind)) in wanted where tasks[key] == nil {
            tasks[key] = start(row, kind)
        }
    }

    mutating func stopAll() {
        for task in tasks.values { task.cancel() }
        tasks.removeAll()
    }
}

/// Encodes a dashboard stream's messages; log messages go through the log viewer's own renderer.
struct DashboardStreamRenderer: Sendable {
    let logs = LogStreamRenderer(cursor: LogCursor(), containers: 0)

    func render(_ message: DashboardMessage) -> ServerSentEvent? {
        switch message {
        case .containers(let rows):
            return ServerSentEvent(event: "containers", encoding: ["containers": rows])
        case .event(let event):
            return ServerSentEvent(event: "event", id: event.timestamp?.description, encoding: DashboardEventPayload(event))
        case .stats(let container, let point):
            return ServerSentEvent(event: "stats", encoding: DashboardStatsPayload(c: String(container.prefix(12)), stats: point))
        case .logs(let message):
            return logs.render(message)
        case .engine(let up, let message):
            return ServerSentEvent(event: "engine", encoding: EngineStatus(state: up ? "up" : "down", message: message))
        }
    }
}

/// An event as a dashboard shows it: what happened to which container, when. Not the attributes: they hold every
/// label of the container.
struct DashboardEventPayload: Encodable, Sendable {
    let action: String
    let c: String
    let name: String
    let exitCode: String?
    let time: Int64

    init(_ event: EngineEvent) {
        // A dashboard (a share link among its viewers) never shows an exec's command line: it may hold a secret.
        action = EventPayload.action(of: event, revealingCommands: false)
        c = String((event.actor?.id ?? "").prefix(12))
        name = event.actor?.attributes?["name"] ?? ""
        exitCode = event.actor?.attributes?["exitCode"]
        time = event.timeNano.map { $0 / 1_000_000 } ?? (event.time ?? 0) * 1000
    }
}

struct DashboardStatsPayload: Encodable, Sendable {
    let c: String
    let stats: StatsPoint
}
