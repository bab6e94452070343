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
    var engine = ""
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
        engine = value("engine")
        from = value("from")
        to = value("to")
        text = value("q")
        if user.role != .admin { forcedActor = user.username }
        query.actor = forcedActor ?? (actor.isEmpty ? nil : actor)
        query.action = action.isEmpty ? nil : action
        query.target = target.isEmpty ? nil : target
        query.text = text.isEmpty ? nil : text
        query.engine = engine.isEmpty ? nil : engine
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
                                         ("engine", engine), ("from", from), ("to", to), ("q", text)].filter { !$0.1.isEmpty }
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
    /// The engines Berth knows, the filter's one selected (shown with more than one).
    let engines: [Choice]
    let showEngines: Bool
    let firstPageLink: String?

    struct Choice: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    init(filters: AuditFilters, isAdmin: Bool, preferences: UserPreferences, engineNames: [String] = []) {
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
        // An engine named in the URL that Berth no longer has still shows, selected.
        let names = engineNames.count > 1 || !filters.engine.isEmpty
            ? engineNames + (filters.engine.isEmpty || engineNames.contains(filters.engine) ? [] : [filters.engine]) : []
        engines = names.isEmpty ? [] : [Choice(value: "", label: "any", selected: filters.engine.isEmpty)] + names.map {
            Choice(value: $0, label: $0, selected: $0 == filters.engine)
        }
        showEngines = !engines.isEmpty
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
    /// The engine acted on, by name (older rows hold its address).
    let engine: String?
    /// A console's rows link to its recording's replay.
    let replayLink: String?
    let outcome: String
    let isOk: Bool
    let duration: String?
    let errorMessage: String?
    let parameters: String?
    let requestId: String?
    let hash: String?

    /// - Parameter otherEngines: the engines besides `local`; a container on one of them links to its page there.
    init(_ event: AuditEvent, liveContainers: Set<String>, otherEngines: Set<String> = [], preferences: UserPreferences) {
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
        engine = clean(event.engine)
        if event.targetType == "container", let targetId = event.targetId, let engine = event.engine, otherEngines.contains(engine) {
            targetLink = "/engines/\(engine)/containers/\(EngineClientPath.escape(targetId))"
        } else if event.targetType == "container", let targetId = event.targetId, liveContainers.contains(targetId) {
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
