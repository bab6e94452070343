import Foundation

struct EventsPage: Sendable {
    let title: String
    /// The compose project the page follows (`?project=`), or "".
    var project = ""
    /// Where the page's script reads the events.
    var streamPath = "/events/stream"
    /// The events of every engine: each row names its engine.
    var allEngines = false
}
