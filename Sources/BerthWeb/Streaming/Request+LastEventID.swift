import HTTPTypes
import Hummingbird

extension Request {
    /// Where a reconnecting stream left off: the browser's own `Last-Event-ID`, or the `lastEventId` query parameter
    /// the page's script adds when it reopens a stream it closed itself (a new `EventSource` sends no header).
    var lastEventID: String? {
        if let header = headers[HTTPField.Name("Last-Event-ID")!], !header.isEmpty { return header }
        return uri.queryParameters["lastEventId"].map(String.init)
    }
}
