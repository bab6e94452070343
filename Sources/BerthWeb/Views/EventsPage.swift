import Foundation

struct EventsPage: Sendable {
    let title: String
}
