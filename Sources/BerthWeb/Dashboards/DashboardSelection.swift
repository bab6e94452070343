import BerthStore
import EngineAPI

/// Which containers a dashboard shows, evaluated against the engine's list each time (so a container recreated under
/// the same name, or a new one with the right label, is on it at once).
struct DashboardSelection: Sendable, Hashable {
    enum Kind: String, Sendable, CaseIterable {
        /// Exact container names.
        case names
        /// One name pattern with `*` and `?`.
        case pattern
        /// `key=value` or `key` selectors; a container must match all of them.
        case labels
        /// The compose project label.
        case compose
    }

    let kind: Kind
    let values: [String]

    init(kind: Kind, values: [String]) {
        self.kind = kind
        self.values = values
    }

    /// A saved dashboard's selection (the table's check allows only the four kinds).
    init(_ record: DashboardRecord) {
        self.init(kind: Kind(rawValue: record.selectionKind) ?? .names, values: record.selectionValues)
    }

    /// A dashboard shows at most this many containers (a wall screen, not the container list).
    static let maxContainers = 50
    static let composeProjectLabel = "com.docker.compose.project"

    /// What the engine can narrow the list to before the selection is applied: a superset of what the selection
    /// matches, so that a dashboard of a few containers on a host of thousands reads a few, not thousands. Names are
    /// substrings to the engine (OR-ed, a container name's characters only, or no narrowing); labels are its own
    /// `key`/`key=value` filters (AND-ed, as here); a pattern is not narrowed.
    var engineFilters: ContainerFilters {
        switch kind {
        case .names:
            // `.` is any character to the engine's regular expression: still a superset. Anything else (not a name
            // a container can have) would be an error there, and matches nothing here: no narrowing then.
            return values.allSatisfy(NameRules.isValidObjectName) ? ContainerFilters(name: values) : ContainerFilters()
        case .labels:
            return ContainerFilters(label: values)
        case .compose:
            return ContainerFilters(label: values.first.map { ["\(Self.composeProjectLabel)=\($0)"] } ?? [])
        case .pattern:
            return ContainerFilters()
        }
    }

    /// The selected containers of an engine now, from one list call the engine narrows as far as it can.
    func containers(on engine: EngineClient) async throws -> [ContainerSummary] {
        select(try await engine.listContainers(all: true, filters: engineFilters))
    }

    /// The selected containers of a list, by name.
    func select(_ containers: [ContainerSummary]) -> [ContainerSummary] {
        Array(containers.filter { matches(name: $0.name, labels: $0.labels ?? [:]) }
            .sorted { $0.name < $1.name }
            .prefix(Self.maxContainers))
    }

    func matches(name: String, labels: [String: String]) -> Bool {
        switch kind {
        case .names:
            return values.contains(name)
        case .pattern:
            return values.first.map { Self.glob($0, matches: name) } ?? false
        case .labels:
            return !values.isEmpty && values.allSatisfy { selector in
                let parts = selector.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(parts[0])
                guard let value = labels[key] else { return false }
                return parts.count == 1 || value == String(parts[1])
            }
        case .compose:
            return values.first.map { labels[Self.composeProjectLabel] == $0 } ?? false
        }
    }

    /// What the selection is, in words, for the pages.
    var summary: String {
        switch kind {
        case .names: return "containers named " + values.joined(separator: ", ")
        case .pattern: return "containers whose name matches \(values.first ?? "")"
        case .labels: return "containers labelled " + values.joined(separator: " and ")
        case .compose: return "the compose project \(values.first ?? "")"
        }
    }

    /// `*` any run of characters, `?` one character; everything else literal.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let pattern = Array(pattern)
        let text = Array(text)
        var p = 0
        var t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
