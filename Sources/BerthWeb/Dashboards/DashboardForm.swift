import BerthStore
import Foundation
import PAMAuth

/// The editor's fields, checked: what a dashboard is made of, or the reasons it can't be saved.
struct DashboardForm: Sendable {
    var title = ""
    var details = ""
    var kind = DashboardSelection.Kind.labels
    var values: [String] = []
    /// The engines to pick from; a form without engine fields (a Berth of one engine shows none) means `local`.
    var engines = [EngineDefinition.localName]
    var showStatus = true
    var showStats = true
    var showEvents = true
    var showLogs = false
    var redactions: [String] = []
    var sharedWithAll = false
    var sharedGroups: [String] = []
    var sharedUsers: [String] = []

    static let maxTitle = 100
    static let maxDetails = 1000
    static let maxValues = 50
    static let maxShares = 50
    static let maxEngines = 20

    init() {}

    init(_ record: DashboardRecord) {
        title = record.title
        details = record.details
        kind = DashboardSelection.Kind(rawValue: record.selectionKind) ?? .labels
        values = record.selectionValues
        engines = record.engines
        showStatus = record.showStatus
        showStats = record.showStats
        showEvents = record.showEvents
        showLogs = record.showLogs
        redactions = record.redactions
        sharedWithAll = record.sharedWithAll
        sharedGroups = record.sharedGroups
        sharedUsers = record.sharedUsers
    }

    /// Reads the posted fields; `problems` says what is wrong with them (empty when they can be saved).
    init(_ fields: FormFields) {
        title = (fields["title"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        details = (fields["details"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        kind = DashboardSelection.Kind(rawValue: fields["kind"] ?? "") ?? .labels
        values = Self.selectionValues(kind: kind, text: fields["selection"] ?? "")
        let engines = Self.list(fields.values("engine").joined(separator: " "))
        self.engines = engines.isEmpty && fields["engines"] == nil ? [EngineDefinition.localName] : engines
        showStatus = fields.isChecked("showStatus")
        showStats = fields.isChecked("showStats")
        showEvents = fields.isChecked("showEvents")
        showLogs = fields.isChecked("showLogs")
        redactions = fields.lines("redactions")
        sharedWithAll = fields.isChecked("sharedWithAll")
        sharedGroups = Self.list(fields["sharedGroups"] ?? "")
        sharedUsers = Self.list(fields["sharedUsers"] ?? "")
    }

    /// Names and selectors one per line (or comma-separated); a pattern and a project are one value.
    static func selectionValues(kind: DashboardSelection.Kind, text: String) -> [String] {
        switch kind {
        case .names, .labels:
            return text.split(whereSeparator: { $0.isNewline || $0 == "," })
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .pattern, .compose:
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? [] : [value]
        }
    }

    static func list(_ text: String) -> [String] {
        var seen = Set<String>()
        return text.split(whereSeparator: { $0.isWhitespace || $0 == "," })
            .map(String.init).filter { seen.insert($0).inserted }
    }

    var selection: DashboardSelection { DashboardSelection(kind: kind, values: values) }

    var problems: [String] {
        var problems: [String] = []
        if title.isEmpty { problems.append("Give the dashboard a title.") }
        if title.count > Self.maxTitle { problems.append("The title is longer than \(Self.maxTitle) characters.") }
        if details.count > Self.maxDetails { problems.append("The description is longer than \(Self.maxDetails) characters.") }
        if title.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            problems.append("The title holds control characters.")
        }
        problems += selectionProblems
        if !(showStatus || showStats || showEvents || showLogs) { problems.append("Choose at least one widget to show.") }
        if redactions.count > LogRedactor.maxRules { problems.append("At most \(LogRedactor.maxRules) redaction rules.") }
        for rule in redactions {
            if let problem = LogRedactor.problem(with: rule) { problems.append("The redaction rule \(rule.prefix(60)) \(problem).") }
        }
        if let problem = LogRedactor.problem(withRules: redactions) { problems.append(problem) }
        if sharedGroups.count > Self.maxShares || sharedUsers.count > Self.maxShares {
            problems.append("Share with at most \(Self.maxShares) groups and \(Self.maxShares) users.")
        }
        for name in sharedGroups + sharedUsers where !UsernamePolicy.isAcceptable(name) {
            problems.append("\(name.prefix(64)) is not a unix user or group name.")
        }
        return problems
    }

    /// What is wrong with the engines chosen, for a user who operates the engines `allowed` and has a role on those
    /// `visible` (an engine they have no role on gets the words of one that does not exist, as everywhere).
    func engineProblems(allowed: [String], visible: [String]) -> [String] {
        if engines.isEmpty { return ["Choose at least one engine."] }
        if engines.count > Self.maxEngines { return ["At most \(Self.maxEngines) engines."] }
        return engines.compactMap { name in
            if !visible.contains(name) { return "Berth knows no engine named “\(name.prefix(64))” that you may use." }
            if !allowed.contains(name) {
                return "You don't operate the engine \(name): only its operators may put its containers on a dashboard."
            }
            return nil
        }
    }

    var selectionProblems: [String] {
        if values.isEmpty {
            switch kind {
            case .names: return ["Name at least one container."]
            case .pattern: return ["Give a name pattern, such as web-*."]
            case .labels: return ["Give at least one label selector, key=value or key."]
            case .compose: return ["Give the compose project's name."]
            }
        }
        if values.count > Self.maxValues { return ["At most \(Self.maxValues) names or selectors."] }
        for value in values {
            if value.count > 256 { return ["\(value.prefix(60))… is too long."] }
            if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                return ["A name or selector holds control characters."]
            }
            if kind == .labels && value.hasPrefix("=") { return ["The selector \(value) has no key."] }
        }
        return []
    }

    /// The record to save, for `owner`, keeping what an existing one had.
    func record(owner: String, existing: DashboardRecord? = nil, now: Date = Date()) -> DashboardRecord {
        var record = existing ?? DashboardRecord(owner: owner, title: title, selectionKind: kind.rawValue, selectionValues: values, createdAt: now)
        record.title = title
        record.details = details
        record.selectionKind = kind.rawValue
        record.selectionValues = values
        record.engines = engines
        record.showStatus = showStatus
        record.showStats = showStats
        record.showEvents = showEvents
        record.showLogs = showLogs
        record.redactions = redactions
        record.sharedWithAll = sharedWithAll
        record.sharedGroups = sharedGroups
        record.sharedUsers = sharedUsers
        record.updatedAt = now
        return record
    }

    /// What the audit row keeps of a save (redaction rules are counted, not stored: they describe secrets).
    var auditParameters: [String: String] {
        [
            "title": title, "selection": "\(kind.rawValue): \(values.joined(separator: ", "))",
            "engines": engines.joined(separator: ","),
            "widgets": widgetNames.joined(separator: ","), "redactionRules": String(redactions.count),
            "sharedWithAll": sharedWithAll ? "1" : "0", "sharedGroups": sharedGroups.joined(separator: ","),
            "sharedUsers": sharedUsers.joined(separator: ","),
        ]
    }

    var widgetNames: [String] {
        [("status", showStatus), ("stats", showStats), ("events", showEvents), ("logs", showLogs)].filter(\.1).map(\.0)
    }
}
