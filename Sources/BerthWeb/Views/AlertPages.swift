import BerthStore
import Foundation

/// What `alerts.mustache` shows: channels, rules, and the forms for both.
struct AlertsPage: Sendable {
    let title = "Alerts"
    let channels: [Channel]
    let rules: [Rule]
    let events: [Choice]
    let hasChannels: Bool
    let allowLocal: Bool

    struct Channel: Sendable {
        let id: String
        let name: String
        let kind: String
        let url: String
    }

    struct Rule: Sendable {
        let id: String
        let name: String
        let events: String
        let namePattern: String
        let label: String
        let channels: String
    }

    struct Choice: Sendable {
        let value: String
        let label: String
    }

    init(channels: [AlertChannel], rules: [AlertRule], allowLocal: Bool) {
        let names = Dictionary(channels.compactMap { channel in channel.id.map { ($0, channel.name) } }) { first, _ in first }
        self.channels = channels.map { Channel(id: $0.id.map(String.init) ?? "", name: $0.name, kind: $0.kind.rawValue, url: $0.url) }
        self.rules = rules.map {
            Rule(
                id: $0.id.map(String.init) ?? "", name: $0.name, events: $0.events.replacingOccurrences(of: ",", with: ", "),
                namePattern: $0.namePattern, label: $0.label, channels: $0.channelIds.compactMap { names[$0] }.joined(separator: ", ")
            )
        }
        events = AlertRule.Event.allCases.map { Choice(value: $0.rawValue, label: AlertMessage.verb($0.rawValue)) }
        hasChannels = !channels.isEmpty
        self.allowLocal = allowLocal
    }
}

/// What `alert-channel.mustache` shows: one channel and its delivery log.
struct AlertChannelPage: Sendable {
    let title: String
    let id: String
    let name: String
    let kind: String
    let url: String
    let deliveries: [Delivery]
    let isEmpty: Bool

    struct Delivery: Sendable {
        let id: String
        let created: DisplayTime
        let state: String
        let attempts: Int
        let text: String
        let lastError: String?
        let sent: DisplayTime?
        let next: DisplayTime?
    }

    init(_ channel: AlertChannel, deliveries: [AlertDelivery], preferences: UserPreferences) {
        title = "Alert channel \(channel.name)"
        id = channel.id.map(String.init) ?? ""
        name = channel.name
        kind = channel.kind.rawValue
        url = channel.url
        self.deliveries = deliveries.map {
            Delivery(
                id: $0.id.map(String.init) ?? "", created: DisplayTime($0.createdAt, preferences: preferences), state: $0.state.rawValue,
                attempts: $0.attempts,
                text: (try? JSONDecoder().decode(AlertMessage.self, from: Data($0.message.utf8)))?.text ?? $0.message,
                lastError: $0.lastError, sent: $0.sentAt.map { DisplayTime($0, preferences: preferences) },
                next: $0.state == .pending ? $0.nextAttemptAt.map { DisplayTime($0, preferences: preferences) } : nil
            )
        }
        isEmpty = deliveries.isEmpty
    }
}
