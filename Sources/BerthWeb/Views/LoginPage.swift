import Foundation

/// What `login.mustache` shows.
struct LoginPage: Sendable {
    let title = "Sign in"
    let next: String
    let username: String
    let message: String?
    let csrfToken: String
}
