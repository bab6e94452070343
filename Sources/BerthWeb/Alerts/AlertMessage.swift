import BerthStore
import EngineAPI
import Foundation

/// What a channel is told: one rule, one kind of event, every container it concerns (fifty that died at once are one
/// message), in JSON for webhooks and in a line of text for the rest.
struct AlertMessage: Codable, Sendable, Equatable {
    struct Container: Codable, Sendable, Equatable {
        let id: String
        let name: String
        /// `exit code 3`, …
        let detail: String
        /// When the engine said so (ISO 8601).
        let time: String
    }

    let rule: String
    /// `died`, `oom`, `unhealthy`, or `test`.
    let event: String
    let containers: [Container]
    let engine: String
    /// One line for people.
    let text: String

    init(rule: String, event: String, containers: [Container], engine: String) {
        self.rule = rule
        self.event = event
        self.containers = containers
        self.engine = engine
        let names = containers.prefix(10).map { "\($0.name) (\($0.detail))" }.joined(separator: ", ")
            + (containers.count > 10 ? " and \(containers.count - 10) more" : "")
        switch event {
        case "test": text = "Berth: a test message for channel “\(rule)”."
        default: text = "Berth [\(rule)]: \(containers.count == 1 ? "a container" : "\(containers.count) containers") \(Self.verb(event, count: containers.count)): \(names)"
        }
    }

    static func verb(_ event: String, count: Int = 2) -> String {
        switch event {
        case "died": "exited with an error"
        case "oom": "ran out of memory"
        case "unhealthy": "became unhealthy"
        case "restarting": count == 1 ? "keeps restarting" : "keep restarting"
        case "update": count == 1 ? "has a newer image in its registry" : "have a newer image in their registry"
        default: event
        }
    }

    /// A mail's subject: the text's first words.
    var subject: String {
        switch event {
        case "test": "Berth: a test message for channel “\(rule)”"
        default: "Berth [\(rule)]: " + (containers.count == 1 ? "\(containers[0].name) \(Self.verb(event, count: 1))" : "\(containers.count) containers \(Self.verb(event))")
        }
    }

    /// A mail's text: every container on a line of its own, not only the first ten.
    var mailBody: String {
        guard event != "test" else { return text + "\n\nEngine: \(engine)\n" }
        let lines = containers.map { "- \($0.name) (\(String($0.id.prefix(12)))): \($0.detail), \($0.time)" }
        return "Rule “\(rule)”: \(containers.count == 1 ? "a container" : "\(containers.count) containers") \(Self.verb(event, count: containers.count)).\n\n"
            + lines.joined(separator: "\n") + "\n\nEngine: \(engine)\n"
    }

    var json: String { String(decoding: (try? Self.encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

/// A container event as a rule sees it: what happened, to which container, carrying which labels.
struct AlertableEvent: Sendable, Equatable {
    let kind: AlertRule.Event
    let container: AlertMessage.Container
    let labels: [String: String]
    let timeNano: Int64

    init(kind: AlertRule.Event, container: AlertMessage.Container, labels: [String: String], timeNano: Int64) {
        self.kind = kind
        self.container = container
        self.labels = labels
        self.timeNano = timeNano
    }

    /// The alertable part of an engine event, if any: a non-zero exit, an OOM kill, a health check turned unhealthy.
    init?(_ event: EngineEvent) {
        guard event.type == "container", let action = event.action, let id = event.actor?.id else { return nil }
        let attributes = event.actor?.attributes ?? [:]
        let detail: String
        switch action {
        case "die":
            guard let code = attributes["exitCode"], code != "0" else { return nil }
            kind = .died
            detail = "exit code \(code)"
        case "oom":
            kind = .oom
            detail = "out of memory"
        case "health_status: unhealthy":
            kind = .unhealthy
            detail = "unhealthy"
        default:
            return nil
        }
        timeNano = event.timeNano ?? (event.time ?? 0) * 1_000_000_000
        let time = Date(timeIntervalSince1970: TimeInterval(timeNano) / 1e9)
        container = .init(id: id, name: attributes["name"] ?? String(id.prefix(12)), detail: detail, time: AuditText.timestamp(time))
        // The engine puts the container's labels among the attributes, beside its own keys.
        labels = attributes
    }
}

/// A rule made ready to match: its pattern compiled once.
struct CompiledAlertRule: Sendable {
    let rule: AlertRule
    let id: Int64
    let events: Set<AlertRule.Event>
    let pattern: LinearRegex?

    init?(_ rule: AlertRule) {
        guard let id = rule.id else { return nil }
        self.rule = rule
        self.id = id
        events = rule.eventSet
        pattern = rule.namePattern.isEmpty ? nil : try? LinearRegex(rule.namePattern)
        if !rule.namePattern.isEmpty, pattern == nil { return nil }
    }

    func matches(_ event: AlertableEvent) -> Bool {
        events.contains(event.kind) && selects(name: event.container.name, labels: event.labels)
    }

    /// Whether the rule's name pattern and label select a container.
    func selects(name: String, labels: [String: String]) -> Bool {
        if let pattern, pattern.firstMatch(in: name) == nil { return false }
        let label = rule.label.trimmingCharacters(in: .whitespaces)
        if !label.isEmpty {
            let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let key = parts.first, !key.isEmpty, let value = labels[key] else { return false }
            if parts.count == 2, value != parts[1] { return false }
        }
        return true
    }
}
