/// What `error.mustache` shows: a status and a message a person can act on, never a stack trace.
struct ErrorPage: Sendable {
    let title: String
    let status: Int
    let message: String
}
