import EngineAPI
import Foundation
import NIOConcurrencyHelpers

/// One selected container as a dashboard shows it: nothing more than the status table needs (no environment, no
/// labels, no inspect JSON; not the engine's words for its state either, "Up 5 seconds", which change by themselves
/// every second: the page counts the time up from `startedAt`, and a table that did not change is not sent again).
struct DashboardContainerStatus: Encodable, Sendable, Equatable {
    /// The engine it runs on, by name.
    let engine: String
    /// `?engine=name` for its links when the dashboard spans several engines, else empty.
    let engineQuery: String
    let id: String
    let shortId: String
    let name: String
    let image: String
    let state: String
    let health: String?
    let startedAt: String?
    let restarts: Int
    /// Stored for the templates, which read stored properties only.
    let running: Bool
    let tty: Bool
    /// The last update check found a newer image for the tag it was started with.
    let updateAvailable: Bool

    init(_ summary: ContainerSummary, inspect: ContainerInspect?, on engine: DashboardEngine) {
        self.engine = engine.name
        engineQuery = engine.query
        id = summary.id
        shortId = String(summary.id.prefix(12))
        name = summary.name
        image = summary.image ?? ""
        state = summary.state ?? inspect?.state?.status ?? "unknown"
        health = inspect?.state?.health?.status
        startedAt = (inspect?.state?.running ?? false) ? inspect?.state?.startedAt : nil
        restarts = inspect?.restartCount ?? 0
        running = state == "running"
        tty = inspect?.config?.tty ?? false
        updateAvailable = engine.updates?.updateAvailable(reference: inspect?.config?.image ?? summary.image, imageId: summary.imageID) ?? false
    }
}

/// Which status table a dashboard's screen reads on an engine: the same for all the screens of one dashboard.
struct DashboardTableKey: Hashable, Sendable {
    let dashboard: Int64
    let selection: DashboardSelection
    /// The rows' links name the engine when the dashboard spans several.
    let engineQuery: String
}

/// One engine a dashboard picks containers from, as Berth reaches it now.
struct DashboardEngine: Sendable {
    let name: String
    /// Nil when the dashboard can't show this engine now (``withheld`` says why).
    let handle: EngineHandle?
    /// Why the engine's containers are not shown: Berth knows no engine of that name any more, or its owner no longer
    /// operates it.
    let withheld: String?
    /// Update checks are `local`'s: other engines' rows never claim an update.
    let updates: UpdateMarks?
    /// `?engine=name` on container links when the dashboard spans several engines (names are `[a-z0-9-]`); empty
    /// otherwise, so a one-engine dashboard's links stay what they were.
    let query: String
    /// Whether the viewer may read why an engine failed: an engine's error names its address, which a link viewer
    /// is not told.
    let detailed: Bool

    init(name: String, handle: EngineHandle?, withheld: String? = nil, updates: UpdateMarks, spansSeveral: Bool, detailed: Bool) {
        self.name = name
        self.handle = withheld == nil ? handle : nil
        self.withheld = handle == nil ? (withheld ?? "Berth knows no engine named “\(name)” any more.") : withheld
        self.updates = handle?.isLocal == true ? updates : nil
        query = spansSeveral ? "?engine=" + name : ""
        self.detailed = detailed
    }

    /// "The engine", naming it on a dashboard of several.
    private var subject: String { query.isEmpty ? "The engine" : "The engine \(name)" }

    /// What the pages say when the engine's part can't be shown.
    func problem(_ error: (any Error)?) -> String {
        if let withheld { return withheld }
        guard let error else { return "\(subject) did not answer in time." }
        return detailed ? "\(subject) can't be reached: \(error)" : "\(subject) can't be reached."
    }

    /// What the page says of a change of the engine's state its shared events report.
    func upstreamMessage(up: Bool, _ text: String) -> String {
        if up { return "\(subject) answers again." }
        guard detailed else { return "\(subject) can't be reached." }
        return query.isEmpty ? text : "\(name): \(text)"
    }
}

/// What a dashboard's one stream carries.
enum DashboardMessage: Sendable {
    /// One engine's part of the status table, sent whole when something about its selection changed.
    case containers(engine: String, [DashboardContainerStatus])
    case event(engine: String, EngineEvent)
    case stats(engine: String, container: String, StatsPoint)
    /// Log lines (already redacted) and log status, as the log viewer's stream sends them.
    case logs(LogStreamMessage)
    case engine(name: String, up: Bool, message: String)

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
    /// Where the selection picks from, in the order the table shows them.
    let engines: [DashboardEngine]
    let showStatus: Bool
    let showStats: Bool
    let showEvents: Bool
    let showLogs: Bool
    let redactor: LogRedactor
    /// `/dashboards/{id}` for signed-in teammates, `/shared/{id}` for link viewers.
    let basePath: String

    /// The selected containers of one engine, from one engine call that started at `since` or later: the screens of a
    /// wall told of the same event share one list call (``SharedReads``), each selecting from it.
    func containers(of handle: EngineHandle, since: ContinuousClock.Instant = .now) async throws -> [ContainerSummary] {
        let filters = selection.engineFilters
        let client = handle.client
        return selection.select(try await handle.containerLists.value(filters, since: since) {
            try await client.listContainers(all: true, filters: filters)
        })
    }

    /// The status rows of the selection on one engine, from a reading that started at `since` or later: the screens
    /// of a wall told of the same event share one reading (``SharedReads``), rows and all.
    func table(on source: DashboardEngine, handle: EngineHandle, since: ContinuousClock.Instant) async throws -> [DashboardContainerStatus] {
        let key = DashboardTableKey(dashboard: id, selection: selection, engineQuery: source.query)
        let selection = self.selection
        return try await handle.dashboardTables.value(key, since: since) {
            // Its engine calls start no earlier than the reading, so no later than any screen that joins it was told of
            // its change: the list is this reading's own (the reading is what is shared), an inspect may be another
            // dashboard's of the same container that started since.
            let started = ContinuousClock.now
            return await Self.statuses(of: try await selection.containers(on: handle.client), on: source, handle: handle, since: started)
        }
    }

    /// The selected container a request names by full id, id prefix or name, on the engine it names (`?engine=`)
    /// or else the first of the dashboard's engines that has it; nil for anything outside the selection, whether or
    /// not such a container exists.
    func resolve(_ reference: String, engine name: String?) async throws -> (DashboardEngine, ContainerSummary)? {
        let candidates = name.map { name in engines.filter { $0.name == name } } ?? engines
        var firstError: (any Error)?
        for candidate in candidates {
            guard let handle = candidate.handle else { continue }
            do {
                if let found = try await resolve(reference, engine: handle) { return (candidate, found) }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return nil
    }

    private func resolve(_ reference: String, engine: EngineHandle) async throws -> ContainerSummary? {
        let selected = try await containers(of: engine)
        let name = reference.hasPrefix("/") ? String(reference.dropFirst()) : reference
        if let byName = selected.first(where: { $0.name == name || $0.id == reference }) { return byName }
        guard reference.count >= 4, reference.allSatisfy(\.isHexDigit) else { return nil }
        let byPrefix = selected.filter { $0.id.hasPrefix(reference.lowercased()) }
        return byPrefix.count == 1 ? byPrefix[0] : nil
    }

    /// The status rows of the selected containers; each inspected (for health, restarts, start time) in parallel, by an
    /// inspect that started at `since` or later, shared like the list.
    static func statuses(
        of containers: [ContainerSummary], on source: DashboardEngine, handle: EngineHandle, since: ContinuousClock.Instant = .now
    ) async -> [DashboardContainerStatus] {
        let client = handle.client
        return await withTaskGroup(of: (Int, DashboardContainerStatus).self) { group in
            for (index, summary) in containers.enumerated() {
                let id = summary.id
                group.addTask {
                    let inspect = try? await handle.inspects.value(id, since: since) { try await client.inspectContainer(id) }
                    return (index, DashboardContainerStatus(summary, inspect: inspect, on: source))
                }
            }
            var rows = [DashboardContainerStatus?](repeating: nil, count: containers.count)
            for await (index, row) in group { rows[index] = row }
            return rows.compactMap { $0 }
        }
    }
}

/// Fills a dashboard's stream from each of its engines at once, each engine's part on its own (one engine down or
/// slow holds up nothing of the others'). An engine replaced or removed while the page is open is looked up again by
/// name (`lookUp`), so a wall screen goes on with what has the name now, or names why it can't.
struct DashboardFeed: Sendable {
    let scope: DashboardScope
    /// The dashboard's engine of this name as it stands now (the directory, and its owner's role there).
    let lookUp: @Sendable (String) async -> DashboardEngine
    var refreshInterval: Duration = .seconds(30)
    /// How long a replaced engine's part waits before looking its name up again (the replacement is being set up).
    var lookUpAgainAfter: Duration = .seconds(1)

    func run(into mailbox: Mailbox<DashboardMessage>) async {
        let budget = LogBudget(engines: scope.engines.count, total: LogsController.maxContainers)
        await withTaskGroup(of: Void.self) { group in
            for (index, source) in scope.engines.enumerated() {
                group.addTask { await follow(source, position: index, budget: budget, into: mailbox) }
            }
        }
        // Nothing left to follow (every engine gone or withheld): the page stays open with its reasons, as a page
        // that reconnected every few seconds would only say them again.
        while !Task.isCancelled && !mailbox.isFinished {
            try? await Task.sleep(for: .seconds(30))
        }
    }

    private func follow(_ first: DashboardEngine, position: Int, budget: LogBudget, into mailbox: Mailbox<DashboardMessage>) async {
        var source = first
        while !Task.isCancelled && !mailbox.isFinished {
            guard let handle = source.handle else {
                budget.report(position: position, rows: 0)
                guard await mailbox.send(.containers(engine: source.name, [])) else { return }
                _ = await mailbox.send(.engine(name: source.name, up: false, message: source.problem(nil)))
                return
            }
            let name = source.name
            let lookUp = self.lookUp
            let feed = DashboardEngineFeed(
                source: source, handle: handle, scope: scope, refreshInterval: refreshInterval, logBudget: budget, position: position,
                stillShown: { await lookUp(name).withheld }
            )
            guard let reason = await feed.run(into: mailbox) else { return }
            // Its engine was replaced or removed, or its owner lost it: say so (a link viewer learns what follows),
            // and go on with what has the name now.
            if source.detailed { mailbox.offer(.engine(name: source.name, up: false, message: reason)) }
            try? await Task.sleep(for: lookUpAgainAfter)
            source = await lookUp(source.name)
            if source.handle != nil { mailbox.offer(.engine(name: source.name, up: true, message: source.upstreamMessage(up: true, ""))) }
        }
    }
}

/// How many containers' logs a dashboard follows, shared among its engines in table order: the first engines'
/// containers first, as a one-engine dashboard follows its first containers. An engine not yet read counts as taking
/// the whole budget (nothing is followed beyond it meanwhile); when an engine's count changes, the engines after it
/// read their tables again to take up what is theirs now.
final class LogBudget: Sendable {
    private struct State {
        var counts: [Int?]
        var rereads: [Int: @Sendable () -> Void] = [:]
    }

    private let state: NIOLockedValueBox<State>
    let total: Int

    init(engines: Int, total: Int) {
        state = NIOLockedValueBox(State(counts: Array(repeating: nil, count: engines)))
        self.total = total
    }

    /// What makes the engine at `position` read its table again.
    func register(position: Int, reread: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.rereads[position] = reread }
    }

    /// Records how many rows the engine at `position` has, and returns how many of them may follow logs.
    @discardableResult
    func report(position: Int, rows: Int) -> Int {
        let (allowance, later) = state.withLockedValue { state -> (Int, [@Sendable () -> Void]) in
            let changed = state.counts[position] != rows
            state.counts[position] = rows
            let before = state.counts[..<position].reduce(0) { $0 + ($1 ?? total) }
            let later = changed ? state.rereads.filter { $0.key > position }.map(\.value) : []
            return (max(0, total - before), later)
        }
        for reread in later { reread() }
        return allowance
    }
}

/// Fills one engine's part of a dashboard's stream: its status rows whenever the selection there changes
/// (container events, and every `refreshInterval` for what events don't tell), the selection's events, the running
/// containers' stats, and their logs when the dashboard shows logs. Events and stats come from the engine's shared
/// upstreams, so ten wall screens on one dashboard cost the engine no more than one.
struct DashboardEngineFeed: Sendable {
    let source: DashboardEngine
    let handle: EngineHandle
    let scope: DashboardScope
    var refreshInterval: Duration = .seconds(30)
    let logBudget: LogBudget
    /// The engine's place among the dashboard's engines.
    let position: Int
    /// Asked before each reading of the table: why the engine's part may no longer be shown (its owner no longer
    /// operates it), or nil.
    let stillShown: @Sendable () async -> String?
    var logTail = 100
    /// How many recent events a page starts with.
    var recentEvents = 30

    private var engine: EngineClient { handle.client }
    private var events: Broadcaster<EngineEventMessage> { handle.events }
    private var stats: Broadcaster<StatsMessage> { handle.stats }
    private var tails: Broadcaster<LogStreamMessage> { handle.tails }

    /// Container actions after which the status table is read again.
    static let statusActions: Set<String> = [
        "create", "start", "restart", "stop", "die", "kill", "pause", "unpause", "destroy", "rename", "oom", "update",
        "health_status",
    ]

    /// How long before a screen opened a reading it joins may have started.
    static let openingTolerance = Duration.seconds(1)

    /// Events of containers not (yet) on the dashboard, held until the table is read again.
    static let maxWaitingEvents = 64

    /// Runs until the page goes away (nil), or until the engine's shared upstreams are closed because it was
    /// replaced or removed (the reason).
    func run(into mailbox: Mailbox<DashboardMessage>) async -> String? {
        let selected = NIOLockedValueBox<Set<String>>([])
        var withheld: String?
        /// Events of containers not (yet) selected, with when they came.
        let waiting = NIOLockedValueBox<[(event: EngineEvent, at: ContinuousClock.Instant)]>([])
        // Each reading of the table is asked for with the moment the need arose: a shared reading that started later
        // answers it (see ``DashboardScope/containers(of:since:)``).
        let (triggers, trigger) = AsyncStream<ContinuousClock.Instant>.makeStream(bufferingPolicy: .bufferingNewest(1))
        logBudget.register(position: position) { trigger.yield(.now) }
        let eventBox = Mailbox<EngineEventMessage>(capacity: 256)
        events.subscribe(eventBox, to: EventsController.topic)
        defer { events.unsubscribe(eventBox, from: EventsController.topic) }
        var followers = Followers(stats: scope.showStats, logs: scope.showLogs)
        defer { followers.stopAll() }

        let name = source.name
        if scope.showEvents {
            for event in await recent() {
                guard await mailbox.send(.event(engine: name, event)) else { return nil }
            }
        }
        let scope = self.scope
        let source = self.source
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while let item = await eventBox.next() {
                    guard case .element(let message) = item else {
                        trigger.yield(.now)  // events were dropped: read the table again
                        continue
                    }
                    switch message {
                    case .engine(let up, let text):
                        mailbox.offer(.engine(name: name, up: up, message: source.upstreamMessage(up: up, text)))
                        trigger.yield(.now)
                    case .event(let shared):
                        let event = shared.event
                        guard event.type == "container", let id = event.actor?.id else { continue }
                        let action = (event.action ?? "").split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                        // Only the containers the pages select (from the list, by their real labels) pass: an
                        // event's attributes mix labels with `name` and `image`, so they can't decide it. A
                        // container not selected yet may be new: its events wait for the next reading of the table.
                        if selected.withLockedValue({ $0.contains(id) }) {
                            if scope.showEvents { mailbox.offer(.event(engine: name, event)) }
                        } else if scope.showEvents {
                            waiting.withLockedValue { waiting in
                                if waiting.count >= Self.maxWaitingEvents { waiting.removeFirst() }
                                waiting.append((event, .now))
                            }
                        }
                        if Self.statusActions.contains(action) { trigger.yield(.now) }
                    }
                }
                // The engine was replaced or removed (its upstreams closed): this part ends, and is looked up again.
                if !Task.isCancelled, eventBox.closeReason != nil { trigger.finish() }
            }
            let interval = refreshInterval
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    trigger.yield(.now)
                }
            }
            // The first reading may be one a screen that opened a moment before started: a wall's screens opening
            // together read the engine once, not once each (what changed in that moment comes as events, which
            // trigger readings of their own, or with the next refresh).
            trigger.yield(.now - Self.openingTolerance)
            var engineDown = false
            var shown: [DashboardContainerStatus]?
            for await since in triggers {
                if mailbox.isFinished { break }
                if let reason = await stillShown() {
                    withheld = reason
                    break
                }
                do {
                    // The reading may be one that another screen started (no earlier than `since`): events from then
                    // on wait for the next one.
                    let readingStarted = since
                    let rows = try await scope.table(on: source, handle: handle, since: since)
                    if engineDown {
                        engineDown = false
                        mailbox.offer(.engine(name: name, up: true, message: source.upstreamMessage(up: true, "")))
                    }
                    let members = Set(rows.map(\.id))
                    selected.withLockedValue { $0 = members }
                    // A table like the one the page shows is not sent again: most events (a container of another
                    // dashboard created) change nothing here, and a wall's thousand screens would each render and
                    // write it.
                    if rows != shown {
                        guard await mailbox.send(.containers(engine: name, rows)) else { break }
                        shown = rows
                    }
                    // An event that came after this reading began may be of a container the reading could not
                    // see yet: it waits for the next one (which its own event triggered) instead of being dropped.
                    let held = waiting.withLockedValue { waiting in
                        let held = waiting.filter { members.contains($0.event.actor?.id ?? "") }
                        waiting.removeAll { members.contains($0.event.actor?.id ?? "") || $0.at < readingStarted }
                        return held
                    }
                    for item in held { mailbox.offer(.event(engine: name, item.event)) }
                    let logLimit = logBudget.report(position: position, rows: rows.count)
                    followers.update(rows, logLimit: logLimit, start: { row, kind in follow(row, kind, into: mailbox) })
                } catch {
                    if !engineDown {
                        engineDown = true
                        mailbox.offer(.engine(name: name, up: false, message: source.problem(error)))
                    }
                }
                // Bursts of events (a compose project starting) cost one read, not one each.
                try? await Task.sleep(for: .milliseconds(500))
            }
            group.cancelAll()
        }
        if Task.isCancelled || mailbox.isFinished { return nil }
        return withheld ?? eventBox.closeReason
    }

    /// The selection's recent events, oldest first, from what the engine remembers.
    private func recent() async -> [EngineEvent] {
        let since = ContinuousClock.now - Self.openingTolerance
        do {
            let members = Set(try await scope.containers(of: handle, since: since).map(\.id))
            let events = try await handle.recentContainerEvents.value(true, since: since) { [engine] in
                try await Self.containerEvents(lastHourOf: engine)
            }
            return Array(events.filter { members.contains($0.actor?.id ?? "") }.suffix(recentEvents))
        } catch {
            return []
        }
    }

    /// How many of the engine's container events of the last hour a dashboard's recent events are picked from.
    static let recentEventsRead = 5000

    /// The engine's container events of the last hour (the newest ``recentEventsRead``): one read that the screens of
    /// a wall opening together share, each picking its own selection's.
    static func containerEvents(lastHourOf engine: EngineClient) async throws -> [EngineEvent] {
        let now = Date()
        var found: [EngineEvent] = []
        let stream = try await engine.events(since: LogTimestamp(date: now.addingTimeInterval(-3600)), until: LogTimestamp(date: now))
        for try await event in stream where event.type == "container" {
            found.append(event)
            if found.count >= 2 * recentEventsRead { found.removeFirst(recentEventsRead) }
        }
        return Array(found.suffix(recentEventsRead))
    }

    /// A task that passes one container's stats (from the shared upstream) or its logs (redacted) to the stream.
    private func follow(_ row: DashboardContainerStatus, _ kind: Followers.Kind, into mailbox: Mailbox<DashboardMessage>) -> Task<Void, Never> {
        let id = row.id
        let name = source.name
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
                    case .sample(let point): mailbox.offer(.stats(engine: name, container: id, point))
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
    mutating func update(
        _ rows: [DashboardContainerStatus], logLimit: Int = LogsController.maxContainers,
        start: (DashboardContainerStatus, Kind) -> Task<Void, Never>
    ) {
        var wanted: [String: (DashboardContainerStatus, Kind)] = [:]
        for (index, row) in rows.enumerated() {
            // Each followed log is an engine connection of this page's own: as many as a merged log view allows.
            if logs && index < logLimit { wanted["logs:\(row.id)"] = (row, .logs) }
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
        case .containers(let engine, let rows):
            return ServerSentEvent(event: "containers", encoding: DashboardRowsPayload(engine: engine, containers: rows))
        case .event(let engine, let event):
            return ServerSentEvent(event: "event", id: event.timestamp?.description, encoding: DashboardEventPayload(event, engine: engine))
        case .stats(let engine, let container, let point):
            return ServerSentEvent(event: "stats", encoding: DashboardStatsPayload(engine: engine, c: String(container.prefix(12)), stats: point))
        case .logs(let message):
            return logs.render(message)
        case .engine(let name, let up, let message):
            return ServerSentEvent(event: "engine", encoding: DashboardEngineStatus(engine: name, state: up ? "up" : "down", message: message))
        }
    }
}

/// An event as a dashboard shows it: what happened to which container, when. Not the attributes: they hold every
/// label of the container.
struct DashboardEventPayload: Encodable, Sendable {
    let engine: String
    let action: String
    let c: String
    let name: String
    let exitCode: String?
    let time: Int64

    init(_ event: EngineEvent, engine: String) {
        self.engine = engine
        // A dashboard (a share link among its viewers) never shows an exec's command line: it may hold a secret.
        action = EventPayload.action(of: event, revealingCommands: false)
        c = String((event.actor?.id ?? "").prefix(12))
        name = event.actor?.attributes?["name"] ?? ""
        exitCode = event.actor?.attributes?["exitCode"]
        time = event.timeNano.map { $0 / 1_000_000 } ?? (event.time ?? 0) * 1000
    }
}

struct DashboardStatsPayload: Encodable, Sendable {
    let engine: String
    let c: String
    let stats: StatsPoint
}

/// One engine's rows of the status table.
struct DashboardRowsPayload: Encodable, Sendable {
    let engine: String
    let containers: [DashboardContainerStatus]
}

struct DashboardEngineStatus: Encodable, Sendable {
    let engine: String
    let state: String
    let message: String
}
