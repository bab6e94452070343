import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// What the shared engine events stream passes to its subscribers.
enum EngineEventMessage: Sendable {
    case event(SharedEngineEvent)
    /// The engine went away (false) or answered again (true).
    case engine(up: Bool, message: String)
}

/// An event as the shared topic passes it to every page that watches: encoded once for each way the pages show it
/// (with or without exec command lines, named by engine or not), not once a page. Ten thousand pages watching spent
/// a fifth of the fan-out's time encoding the same event ten thousand times.
final class SharedEngineEvent: Sendable {
    private struct Form: Hashable {
        let revealingCommands: Bool
        let engine: String?
    }

    let event: EngineEvent
    private let rendered = NIOLockedValueBox([Form: ServerSentEvent]())

    init(_ event: EngineEvent) {
        self.event = event
    }

    func rendered(revealingCommands: Bool, engine: String?) -> ServerSentEvent {
        let form = Form(revealingCommands: revealingCommands, engine: engine)
        if let known = rendered.withLockedValue({ $0[form] }) { return known }
        let event = EventRenderer.render(event, revealingCommands: revealingCommands, engine: engine)
        rendered.withLockedValue { $0[form] = event }
        return event
    }
}

/// The engine's events: a page with filters, and its stream. All streams share one upstream `/events` connection.
struct EventsController: Sendable {
    let views: PageRenderer
    let streamer: EventStreamer
    let engines: EngineAccess

    /// The engine keeps this many past events for `since`; a replay that returns as many may have lost older ones.
    static let engineEventMemory = 256
    static let topic = "events"

    func addRoutes(to routes: Routes) {
        // Every engine the user has a role on, in one view: each event names its engine.
        routes.get("/events/all", .viewContainers, use: allPage)
        routes.get("/events/all/stream", .viewContainers, use: allStream)
        let routes = routes.on(.named)
        routes.get("/events", .viewContainers, use: page)
        routes.get("/events/stream", .viewContainers, use: stream)
    }

    @Sendable func allPage(_ request: Request, context: SignedInContext) async throws -> Response {
        var page = EventsPage(title: "Events of all engines", project: request.uri.queryParameters.get("project") ?? "")
        page.streamPath = "/events/all/stream"
        page.allEngines = true
        return try views.page("events", page, context: context)
    }

    /// `GET /events/all/stream[?type=…][&action=…][&project=…]`: the live events of every engine the user has a role
    /// on, from now (no replay: each engine keeps its own past), each with its engine's name. Each engine's shared
    /// upstream is joined as one page of that engine would join it.
    @Sendable func allStream(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let filter = EventFilter(
            types: Self.list(request.uri.queryParameters["type"]), actions: Self.list(request.uri.queryParameters["action"]),
            project: request.uri.queryParameters.get("project").flatMap { $0.isEmpty ? nil : $0 }
        )
        let renderers = Dictionary(uniqueKeysWithValues: engines.roles.engines(of: user, in: engines.directory).map { engine, role in
            (engine.name, (engine, EventRenderer(filter: filter, after: nil, revealingCommands: role == .admin, engine: engine.name)))
        })
        // With no engine to watch, the stream stays open (heartbeats only) rather than ending and being reopened.
        var produce: (@Sendable (Mailbox<EngineTaggedEvent>) async -> Void)?
        if !renderers.isEmpty {
            let engines = renderers.values.map(\.0)
            produce = { mailbox in
                await withTaskGroup(of: Void.self) { group in
                    for engine in engines {
                        group.addTask { await Self.relay(engine, into: mailbox) }
                    }
                }
            }
        }
        return streamer.response(
            for: context, engines: renderers.values.map(\.0), render: { (tagged: EngineTaggedEvent) in renderers[tagged.engine]?.1.render(tagged.message) }, produce: produce
        )
    }

    /// Passes one engine's shared events into a stream of all engines, tagged, until that stream ends.
    static func relay(_ engine: EngineHandle, into mailbox: Mailbox<EngineTaggedEvent>) async {
        let own = Mailbox<EngineEventMessage>(capacity: 256)
        engine.events.subscribe(own, to: topic)
        defer { engine.events.unsubscribe(own, from: topic) }
        while let item = await own.next() {
            switch item {
            case .element(let message):
                // A shared producer never waits: a page that falls behind gets a gap, as on one engine's page.
                _ = mailbox.offer(EngineTaggedEvent(engine: engine.name, message: message))
            case .gap(let dropped):
                let notice = EngineEventMessage.engine(up: true, message: "\(dropped) events of \(engine.name) were skipped because the page fell behind.")
                _ = mailbox.offer(EngineTaggedEvent(engine: engine.name, message: notice))
            case .heartbeat:
                continue
            }
            if mailbox.isFinished { return }
        }
    }

    @Sendable func page(_ request: Request, context: SignedInContext) async throws -> Response {
        let project = request.uri.queryParameters.get("project") ?? ""
        var page = EventsPage(title: project.isEmpty ? "Engine events" : "Events of \(project)", project: project)
        page.streamPath = context.link("/events/stream")
        return try views.page("events", page, context: context)
    }

    /// `GET /events/stream[?type=container,image][&action=start,die][&project=NAME]`: server-sent events, resumed from
    /// `Last-Event-ID`.
    @Sendable func stream(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let user = context.user
        let filter = EventFilter(
            types: Self.list(request.uri.queryParameters["type"]), actions: Self.list(request.uri.queryParameters["action"]),
            project: request.uri.queryParameters.get("project").flatMap { $0.isEmpty ? nil : $0 }
        )
        let sent = request.lastEventID.map { ($0, LogTimestamp(parsingEngineForm: Substring($0))) }
        // A position past now (a clock that ran ahead, a forged id) would hold back every event until then: the page
        // is told, and gets the live events.
        let usable = sent?.1.flatMap { $0 <= LogTimestamp(date: Date().addingTimeInterval(Self.clockTolerance)) ? $0 : nil }
        let renderer = EventRenderer(filter: filter, after: usable, revealingCommands: user.role == .admin)
        let broadcaster = try context.engine.events
        var prelude: (@Sendable () async -> [ServerSentEvent])?
        if let usable {
            prelude = { await Self.replay(engine: engine, since: usable, renderer: renderer) }
        } else if sent != nil {
            prelude = { [ServerSentEvent(event: "resync", encoding: ["reason": Self.unusablePosition])] }
        }
        return streamer.response(
            for: context, render: renderer.render,
            attach: { mailbox in
                broadcaster.subscribe(mailbox, to: Self.topic)
                return { broadcaster.unsubscribe(mailbox, from: Self.topic) }
            },
            prelude: prelude
        )
    }

    /// How far ahead of Berth's clock a position may be (the engine's clock, which stamps events, may run a little
    /// ahead of ours).
    static let clockTolerance: TimeInterval = 5
    static let unusablePosition = "The page's last position can't be used (it lies in the future or is not one Berth wrote); showing live events from now."

    /// The events a reconnecting page missed, from the engine's memory of recent events.
    static func replay(engine: EngineClient, since: LogTimestamp, renderer: EventRenderer) async -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        var count = 0
        do {
            for try await event in try await engine.events(since: since, until: LogTimestamp(date: Date())) {
                count += 1
                if let rendered = renderer.renderReplayed(event) { events.append(rendered) }
            }
        } catch {
            return [ServerSentEvent(event: "resync", encoding: ["reason": "The events since the page lost its connection can't be read: \(error)"])]
        }
        if count >= engineEventMemory {
            let notice = ServerSentEvent(event: "resync", encoding: ["reason": "More events happened than the engine keeps; some were missed."])
            return [notice] + events
        }
        return events
    }

    /// The upstream of the shared topic: one `/events` connection, resumed after the last event when the engine comes
    /// back.
    static func upstream(engine: EngineClient) -> Broadcaster<EngineEventMessage>.Upstream {
        { _, opened, publish in
            // From the moment the first page subscribed: the engine replays what happened while the connection to
            // it was being made, so a container created right after a page opened its stream is not missed.
            let start = LogTimestamp(date: opened)
            var seen = SeenEvents()
            var outage = EngineOutage()
            while !Task.isCancelled {
                do {
                    // After a lost connection, from the latest event passed on: the engine sends that one (and any
                    // others of the same moment) again, and `seen` leaves them out.
                    let events = try await engine.events(since: seen.latest ?? start)
                    if let message = outage.recovered() { publish(.engine(up: true, message: message)) }
                    for try await event in events {
                        guard seen.insert(event) else { continue }
                        publish(.event(SharedEngineEvent(event)))
                    }
                    // The engine ended the stream: it is shutting down.
                    throw EngineError.unreachable(address: engine.address.description, reason: "the engine closed the events stream")
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    if let message = outage.failed(error) { publish(.engine(up: false, message: message)) }
                    await outage.pause()
                }
            }
        }
    }

    static func list(_ value: Substring?) -> Set<String> {
        guard let value else { return [] }
        return Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}

/// An event of one engine in a stream of several.
struct EngineTaggedEvent: Sendable {
    let engine: String
    let message: EngineEventMessage
}

/// Which events a page asked for; empty sets match everything.
struct EventFilter: Sendable {
    let types: Set<String>
    let actions: Set<String>
    /// A compose project: the events of its containers (their labels are in the event's attributes).
    var project: String? = nil

    func matches(_ event: EngineEvent) -> Bool {
        if let project, event.actor?.attributes?["com.docker.compose.project"] != project { return false }
        if !types.isEmpty && !types.contains(event.type ?? "") { return false }
        if !actions.isEmpty {
            // `exec_start: sh -c …` is the action `exec_start`.
            let action = (event.action ?? "").split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            if !actions.contains(action) { return false }
        }
        return true
    }
}

/// Encodes events for one page: filtered, none the page had before it reconnected, and none twice.
final class EventRenderer: Sendable {
    let filter: EventFilter
    /// Whether exec command lines are shown (admins only: `sh -c 'echo PASSWORD=…'` is an exec's action).
    let revealingCommands: Bool
    /// The page's last event before it reconnected (`Last-Event-ID`).
    let after: LogTimestamp?
    /// The events of the replay: the page subscribed to the live events before the replay began, so the newest of
    /// them come twice.
    private let replayed = NIOLockedValueBox(SeenEvents(limit: .max))
    /// The engine named in each event, on a page of several.
    let engine: String?

    init(filter: EventFilter, after: LogTimestamp?, revealingCommands: Bool, engine: String? = nil) {
        self.engine = engine
        self.filter = filter
        self.revealingCommands = revealingCommands
        self.after = after
    }

    /// An event of the replay the page gets before its live events.
    func renderReplayed(_ event: EngineEvent) -> ServerSentEvent? {
        guard replayed.withLockedValue({ $0.insert(event) }) else { return nil }
        return render(event)
    }

    func render(_ message: EngineEventMessage) -> ServerSentEvent? {
        switch message {
        case .engine(let up, let message):
            return ServerSentEvent(event: "engine", encoding: EngineStatus(state: up ? "up" : "down", message: engine.map { "\($0): \(message)" } ?? message))
        case .event(let shared):
            let event = shared.event
            if after != nil, replayed.withLockedValue({ $0.contains(event) }) { return nil }
            guard shows(event) else { return nil }
            return shared.rendered(revealingCommands: revealingCommands, engine: engine)
        }
    }

    private func render(_ event: EngineEvent) -> ServerSentEvent? {
        guard shows(event) else { return nil }
        return Self.render(event, revealingCommands: revealingCommands, engine: engine)
    }

    private func shows(_ event: EngineEvent) -> Bool {
        // The page has what came up to its last event (the engine's `since` includes that one).
        if let after, let stamp = event.timestamp, stamp <= after { return false }
        return filter.matches(event)
    }

    static func render(_ event: EngineEvent, revealingCommands: Bool, engine: String?) -> ServerSentEvent {
        ServerSentEvent(
            event: "event", id: event.timestamp?.description, encoding: EventPayload(event, revealingCommands: revealingCommands, engine: engine)
        )
    }
}

struct EngineStatus: Encodable, Sendable {
    let state: String
    let message: String
}

/// An event as the page gets it: what happened to what, when.
struct EventPayload: Encodable, Sendable {
    /// The event's action; an exec's (`exec_create: sh -c …`, `exec_start: …`) without its command line unless
    /// `revealingCommands`.
    static func action(of event: EngineEvent, revealingCommands: Bool) -> String {
        let action = event.action ?? ""
        guard !revealingCommands, action.hasPrefix("exec_"), let colon = action.firstIndex(of: ":") else { return action }
        return String(action[..<colon])
    }

    let type: String
    let action: String
    let id: String
    let name: String?
    let attributes: [String: String]
    /// Milliseconds since the epoch, for the page's clock.
    let time: Int64
    /// Its engine, on a page of several.
    let engine: String?

    init(_ event: EngineEvent, revealingCommands: Bool, engine: String? = nil) {
        self.engine = engine
        type = event.type ?? ""
        action = Self.action(of: event, revealingCommands: revealingCommands)
        id = event.actor?.id ?? ""
        name = event.actor?.attributes?["name"]
        attributes = event.actor?.attributes ?? [:]
        if let nanos = event.timeNano {
            time = nanos / 1_000_000
        } else {
            time = (event.time ?? 0) * 1000
        }
    }
}
