import EngineAPI
import Hummingbird

/// What `error.mustache` shows: a status and a message a person can act on, never a stack trace.
struct ErrorPage: Sendable {
    let title: String
    let status: Int
    let message: String
}


extension EngineError {
    /// The error page for a page that asked the engine about one thing: 404 with `missing` when the engine does not
    /// know it, else 503 with the engine's own words.
    func pageError(missing: String) -> HTTPError {
        kind == .notFound ? HTTPError(.notFound, message: missing) : HTTPError(.serviceUnavailable, message: description)
    }
}
