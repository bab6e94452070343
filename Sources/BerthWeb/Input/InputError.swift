/// Input a person can correct, with the message to show.
struct InputError: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}
