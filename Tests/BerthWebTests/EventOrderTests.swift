@testable import BerthWeb
import EngineAPI
import Foundation
import NIOCore
import Testing

/// Events as dockerd sends them under load: stamped before it takes the lock that publishes them, so one stamped
/// earlier can follow one stamped later. None may be lost for that, and none passed twice when the engine replays.
@Suite struct EventOrderTests {
    static let base: Int64 = 1_780_000_000_000_000_000

    static func event(_ nanos: Int64, _ action: String, actor: String = "c1") -> EngineEvent {
        EngineEvent(type: "container", action: action, actor: .init(id: actor, attributes: [:]), timeNano: base + nanos)
    }

    static func action(of event: ServerSentEvent?) -> String? {
        guard let event else { return nil }
        let text = String(buffer: event.bytes)
        guard let start = text.range(of: #""action":""#) else { return nil }
        return String(text[start.upperBound...].prefix { $0 != "\"" })
    }

    @Test func anEventStampedBeforeTheOneSentBeforeItIsStillNew() {
        var seen = SeenEvents()
        let sent = [Self.event(2_000, "start", actor: "other"), Self.event(1_000, "exec_create: sh -c echo hi")]
        // Then the engine's replay after a lost connection sends both again; and the same moment may hold another
        // container's event, or another action.
        let again = sent + [Self.event(2_000, "start", actor: "third"), Self.event(2_000, "die", actor: "other")]
        #expect((sent + again).map { seen.insert($0) } == [true, true, false, false, true, true])
        #expect(seen.latest == LogTimestamp(nanosecondsSinceEpoch: Self.base + 2_000))
    }

    @Test func onlyTheLastSoManyAreRemembered() {
        var seen = SeenEvents(limit: 3)
        #expect((0..<5).map { seen.insert(Self.event(Int64($0), "start")) } == Array(repeating: true, count: 5))
        #expect(!seen.contains(Self.event(1, "start")))
        #expect(seen.contains(Self.event(2, "start")) && seen.contains(Self.event(4, "start")))
    }

    @Test func anEventWithoutATimeIsNeverTakenForARepeat() {
        var seen = SeenEvents()
        let timeless = EngineEvent(type: "container", action: "start", actor: .init(id: "c1"))
        #expect([timeless, timeless].map { seen.insert($0) } == [true, true])
    }

    @Test func aPageGetsLiveEventsInWhateverOrderTheirTimesCome() {
        let renderer = EventRenderer(filter: EventFilter(types: [], actions: []), after: nil, revealingCommands: false)
        #expect(Self.action(of: renderer.render(.event(SharedEngineEvent(Self.event(2_000, "start", actor: "other"))))) == "start")
        #expect(Self.action(of: renderer.render(.event(SharedEngineEvent(Self.event(1_000, "exec_create: sh -c echo hi"))))) == "exec_create")
    }

    /// The shared topic's event is encoded once per way pages show it: whichever page asks first, an admin's command
    /// line never reaches a page that must not show it, and a page of several engines gets the engine's name.
    @Test func aSharedEventIsEncodedOncePerFormAndEachPageGetsItsOwn() {
        let everything = EventFilter(types: [], actions: [])
        let shared = SharedEngineEvent(Self.event(1_000, "exec_create: sh -c echo PASSWORD=x"))
        let admin = EventRenderer(filter: everything, after: nil, revealingCommands: true)
        let viewer = EventRenderer(filter: everything, after: nil, revealingCommands: false)
        let ofSeveral = EventRenderer(filter: everything, after: nil, revealingCommands: false, engine: "edge")
        #expect(Self.action(of: admin.render(.event(shared))) == "exec_create: sh -c echo PASSWORD=x")
        #expect(Self.action(of: viewer.render(.event(shared))) == "exec_create")
        #expect(Self.action(of: ofSeveral.render(.event(shared))) == "exec_create")
        #expect(ofSeveral.render(.event(shared)).map { String(buffer: $0.bytes) }?.contains("\"engine\":\"edge\"") == true)
        #expect(viewer.render(.event(shared)).map { String(buffer: $0.bytes) }?.contains("edge") == false)
        #expect(Self.action(of: admin.render(.event(shared))) == "exec_create: sh -c echo PASSWORD=x")
        // A page whose filter leaves it out gets nothing, though others got it encoded.
        #expect(EventRenderer(filter: EventFilter(types: ["image"], actions: []), after: nil, revealingCommands: true).render(.event(shared)) == nil)
    }

    @Test func aReconnectedPageGetsWhatItMissedOnce() {
        let after = LogTimestamp(nanosecondsSinceEpoch: Self.base + 1_000)
        let renderer = EventRenderer(filter: EventFilter(types: [], actions: []), after: after, revealingCommands: true)
        // The replay: the engine's `since` includes the page's last event, which it has.
        #expect(renderer.renderReplayed(Self.event(1_000, "create")) == nil)
        #expect(Self.action(of: renderer.renderReplayed(Self.event(3_000, "start"))) == "start")
        #expect(Self.action(of: renderer.renderReplayed(Self.event(2_000, "attach"))) == "attach")
        // The live stream, subscribed before the replay began, repeats the newest of them; then come new ones,
        // whatever their order.
        #expect(renderer.render(.event(SharedEngineEvent(Self.event(3_000, "start")))) == nil)
        #expect(renderer.render(.event(SharedEngineEvent(Self.event(2_000, "attach")))) == nil)
        #expect(Self.action(of: renderer.render(.event(SharedEngineEvent(Self.event(5_000, "die"))))) == "die")
        #expect(Self.action(of: renderer.render(.event(SharedEngineEvent(Self.event(4_000, "kill"))))) == "kill")
    }
}
