import Foundation

struct EventsPage: Sendable {
    let title: String
    /// The compose project the page follows (`?project=`), or "".
    var project = ""
}
