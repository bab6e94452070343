import BerthStore
import Foundation
import Hummingbird
import HummingbirdCore

/// The search form, read from the query string: what was typed (to show it again), the store's query, and a message
/// per field that could not be read.
struct AuditFilters: Sendable {
    var actor = ""
    var action = ""
    var target = ""
    var outcome = ""
    var from = ""
    var to = ""
    var text = ""
    var query = AuditQuery()
    var errors: [FieldError] = []
    /// Non-admins see their own rows only.
    var forcedActor: String?

    struct FieldError: Sendable {
        let field: String
        let message: String
    }

    init(_ parameters: FlatDictionary<Substring, Substring>, user: SignedInUser) {
        func value(_ key: String) -> String {
            String((parameters[Substring(key)] ?? "").prefix(256)).trimmingCharacters(in: .whitespaces)
        }
        actor = value("actor")
        action = value("action")
        target = value("target")
        outcome = value("outcome")
        from = value("from")
        to = value("to")
        text = value("q")
        if user.role != .admin { forcedActor = user.username }
        query.actor = forcedActor ?? (actor.isEmpty ? nil : actor)
        query.action = action.isEmpty ? nil : action
        query.target = target.isEmpty ? nil : target
        query.text = text.isEmpty ? nil : text
        if !outcome.isEmpty {
            if let parsed = AuditEvent.Outcome(rawValue: outcome) {
                query.outcome = parsed
            } else {
                errors.append(.init(field: "outcome", message: "Outcome must be ok, denied or error."))
            }
        }
        if !from.isEmpty {
            if let date = AuditQuery.parseTime(from) { query.from = date } else {
                errors.append(.init(field: "from", message: "“From” is not a time like 2026-11-01 or 2026-11-01T08:00 (UTC)."))
            }
        }
        if !to.isEmpty {
            if let date = AuditQuery.parseTime(to) { query.to = date } else {
                errors.append(.init(field: "to", message: "“To” is not a time like 2026-11-01 or 2026-11-01T08:00 (UTC)."))
            }
        }
        if let before = parameters["before"], let id = Int64(before), id > 0 { query.before = id }
    }

    /// The filters as a query string, for the next page and the export links.
    func queryString(before: Int64? = nil, extra: [(String, String)] = []) -> String {
        var pairs: [(String, String)] = [("actor", actor), ("action", action), ("target", target), ("outcome", outcome),
                                         ("from", from), ("to", to), ("q", text)].filter { !$0.1.isEmpty }
        if let before { pairs.append(("before", String(before))) }
        pairs += extra
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }
}

/// What `audit.mustache` shows.
struct AuditListPage: Sendable {
    let title = "Audit trail"
    let filters: AuditFilters
    let isAdmin: Bool
    var rows: [AuditRow] = [] {
        didSet { isEmpty = rows.isEmpty }
    }
    /// Stored, not computed: templates see stored properties only.
    var isEmpty = true
    var nextLink: String?
    let exportCSV: String
    let exportNDJSON: String
    let errors: [AuditFilters.FieldError]
    let outcomes: [Choice]
    /// Every action the trail records (`AuditAction`), the filter's one choice selected.
    let actions: [Choice]
    let firstPageLink: String?

    struct Choice: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    init(filters: AuditFilters, isAdmin: Bool, preferences: UserPreferences) {
        self.filters = filters
        self.isAdmin = isAdmin
        errors = filters.errors
        exportCSV = "/audit/export?" + filters.queryString(extra: [("format", "csv")])
        exportNDJSON = "/audit/export?" + filters.queryString(extra: [("format", "ndjson")])
        outcomes = [("", "any"), ("ok", "ok"), ("denied", "denied"), ("error", "error")].map {
            Choice(value: $0.0, label: $0.1, selected: $0.0 == filters.outcome)
        }
        actions = [Choice(value: "", label: "any", selected: filters.action.isEmpty)] + AuditAction.allCases.map {
            Choice(value: $0.rawValue, label: $0.rawValue, selected: $0.rawValue == filters.action)
        }
        firstPageLink = filters.query.before == nil ? nil : "/audit?" + filters.queryString()
    }
}

/// One row of the table, its text neutralised (a newline or an escape sequence in a name shows as `\n`, `\x1b`).
struct AuditRow: Sendable {
    let id: String
    let time: DisplayTime
    let actor: String
    let role: String?
    let clientAddress: String?
    let userAgent: String?
    let action: String
    let target: String?
    let targetLink: String?
    /// A console's rows link to its recording's replay.
    let replayLink: String?
    let outcome: String
    let isOk: Bool
    let duration: String?
    let errorMessage: String?
    let parameters: String?
    let requestId: String?
    let hash: String?

    init(_ event: AuditEvent, liveContainers: Set<String>, preferences: UserPreferences) {
        func clean(_ text: String?) -> String? { text.map(AuditText.neutralised) }
        id = event.id.map(String.init) ?? ""
        time = DisplayTime(event.time, preferences: preferences)
        actor = AuditText.neutralised(event.actor)
        role = clean(event.role)
        clientAddress = clean(event.clientAddress)
        userAgent = clean(event.userAgent)
        action = AuditText.neutralised(event.action)
        let typeLabel = event.targetType.map { "\($0) " } ?? ""
        switch (event.targetName, event.targetId) {
        case (let name?, _): target = AuditText.neutralised(typeLabel + name)
        case (nil, let id?): target = AuditText.neutralised(typeLabel + String(id.prefix(19)))
        default: target = nil
        }
        if event.targetType == "container", let targetId = event.targetId, liveContainers.contains(targetId) {
            targetLink = "/containers/\(EngineClientPath.escape(targetId))"
        } else {
            targetLink = nil
        }
        if event.action == AuditAction.consoleOpen.rawValue || event.action == AuditAction.consoleClose.rawValue,
           let json = event.parameters,
           let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String],
           let recording = object["recording"].flatMap(Int64.init) {
            replayLink = "/consoles/\(recording)"
        } else {
            replayLink = nil
        }
        outcome = event.outcome.rawValue
        isOk = event.outcome == .ok
        duration = event.durationMs.map { "\($0) ms" }
        errorMessage = clean(event.errorMessage)
        parameters = clean(event.parameters)
        requestId = clean(event.requestId)
        hash = event.hash
    }
}
