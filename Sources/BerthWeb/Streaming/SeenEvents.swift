import EngineAPI
import NIOCore

/// The engine events already passed on, to leave out the ones the engine sends again.
///
/// The engine gives its events no id, and their times are not a sequence: dockerd stamps an event before it takes the
/// lock that publishes it, so under load one stamped a few microseconds earlier follows one stamped later. Dropping
/// whatever is not newer than the last one lost such events for every page (an `exec_create` overtaken by another
/// container's `start`). A repeat is recognised by its identity instead; the last `limit` are remembered, more than
/// the engine replays (it keeps 256).
struct SeenEvents: Sendable {
    let limit: Int
    /// Starts at one slot: every events page has one for its replay, and most never replay (a slot of 16 cost each
    /// open page a kilobyte).
    private var order = CircularBuffer<EngineEvent.Identity>(initialCapacity: 1)
    private var members = Set<EngineEvent.Identity>()
    /// The latest time among them: where a new connection's replay starts.
    private(set) var latest: LogTimestamp?

    init(limit: Int = 512) {
        self.limit = limit
    }

    /// Records `event`; false when it was seen already. An event without a time is always new.
    mutating func insert(_ event: EngineEvent) -> Bool {
        guard let identity = event.identity else { return true }
        guard members.insert(identity).inserted else { return false }
        order.append(identity)
        if order.count > limit, let oldest = order.popFirst() { members.remove(oldest) }
        if let stamp = event.timestamp, latest.map({ stamp > $0 }) ?? true { latest = stamp }
        return true
    }

    func contains(_ event: EngineEvent) -> Bool {
        event.identity.map(members.contains) ?? false
    }

}
