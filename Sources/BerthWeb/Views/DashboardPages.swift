import BerthStore
import Foundation

/// `/dashboards`: the signed-in user's own dashboards and those shared with them.
struct DashboardListPage: Sendable {
    struct Item: Sendable {
        let id: Int64
        let title: String
        let details: String
        let owner: String
        let selection: String
        let sharing: String
        let canEdit: Bool

        init(_ record: DashboardRecord, canEdit: Bool) {
            id = record.id ?? 0
            title = record.title
            details = record.details
            owner = record.owner
            let summary = DashboardSelection(record).summary
            selection = record.engines == [EngineDefinition.localName] ? summary : summary + " on " + record.engines.joined(separator: ", ")
            sharing = DashboardListPage.sharing(record)
            self.canEdit = canEdit
        }
    }

    let mine: [Item]
    let shared: [Item]
    let canCreate: Bool
    var title = "Dashboards"

    static func sharing(_ record: DashboardRecord) -> String {
        if record.sharedWithAll { return "everyone signed in" }
        let parts = record.sharedGroups.map { "group \($0)" } + record.sharedUsers
        return parts.isEmpty ? "only you (and admins)" : parts.joined(separator: ", ")
    }
}

/// The editor, new or existing, with the reasons a save was refused.
struct DashboardEditPage: Sendable {
    struct Option: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    let title: String
    let action: String
    let id: Int64?
    let problems: [String]
    let name: String
    let details: String
    let kinds: [Option]
    /// The engines to choose from: those the user operates, and any the dashboard has already. Nil when that is
    /// `local` alone (a Berth of one engine asks nothing).
    let engines: [Option]?
    let choosesEngines: Bool
    let selectionText: String
    let showStatus: Bool
    let showStats: Bool
    let showEvents: Bool
    let showLogs: Bool
    let redactionsText: String
    let sharedWithAll: Bool
    let sharedGroups: String
    let sharedUsers: String

    init(form: DashboardForm, id: Int64?, problems: [String], selectable: [String]) {
        self.id = id
        title = id == nil ? "New dashboard" : "Edit \(form.title)"
        action = id.map { "/dashboards/\($0)" } ?? "/dashboards"
        self.problems = problems
        name = form.title
        details = form.details
        let labels: [DashboardSelection.Kind: String] = [
            .labels: "by label (key=value or key, one per line; all must match)", .names: "by name (one per line)",
            .pattern: "by name pattern (* and ?)", .compose: "by compose project",
        ]
        kinds = [.labels, .names, .pattern, .compose].map { Option(value: $0.rawValue, label: labels[$0] ?? $0.rawValue, selected: $0 == form.kind) }
        let names = selectable + form.engines.filter { !selectable.contains($0) }
        engines = names == [EngineDefinition.localName] ? nil : names.map { name in
            Option(value: name, label: selectable.contains(name) ? name : "\(name) (not yours to choose)", selected: form.engines.contains(name))
        }
        choosesEngines = engines != nil
        selectionText = form.values.joined(separator: "\n")
        showStatus = form.showStatus
        showStats = form.showStats
        showEvents = form.showEvents
        showLogs = form.showLogs
        redactionsText = form.redactions.joined(separator: "\n")
        sharedWithAll = form.sharedWithAll
        sharedGroups = form.sharedGroups.joined(separator: ", ")
        sharedUsers = form.sharedUsers.joined(separator: ", ")
    }
}

/// Share links of one dashboard: make one (its URL shown once), see when each was used, revoke.
struct DashboardSharePage: Sendable {
    struct Link: Sendable {
        let id: Int64
        let label: String
        let createdBy: String
        let created: DisplayTime
        let expires: DisplayTime
        let lastUsed: DisplayTime?
        let useCount: Int
        let state: String
        let active: Bool
    }

    struct Choice: Sendable {
        let seconds: Int
        let label: String
        let selected: Bool
    }

    let title: String
    let dashboardId: Int64
    let dashboardTitle: String
    let sharing: String
    let newLink: String?
    let links: [Link]
    let expiryChoices: [Choice]

    static let choices: [(Int, String)] = [
        (3600, "1 hour"), (8 * 3600, "8 hours"), (86400, "1 day"), (3 * 86400, "3 days"), (7 * 86400, "7 days"),
        (30 * 86400, "30 days"), (90 * 86400, "90 days"),
    ]

    init(
        dashboard: DashboardRecord, links records: [DashboardLinkRecord], newLink: String?, maxLifetime: TimeInterval,
        preferences: UserPreferences, now: Date
    ) {
        title = "Share \(dashboard.title)"
        dashboardId = dashboard.id ?? 0
        dashboardTitle = dashboard.title
        sharing = DashboardListPage.sharing(dashboard)
        self.newLink = newLink
        links = records.map { record in
            let reason = record.unusableReason(at: now)
            return Link(
                id: record.id ?? 0, label: record.label, createdBy: record.createdBy, created: DisplayTime(record.createdAt, preferences: preferences),
                expires: DisplayTime(record.expiresAt, preferences: preferences),
                lastUsed: record.lastUsedAt.map { DisplayTime($0, preferences: preferences) }, useCount: record.useCount,
                state: record.revokedAt != nil ? "revoked" : (reason == nil ? "active" : "expired"), active: reason == nil
            )
        }
        var allowed = Self.choices.filter { TimeInterval($0.0) <= maxLifetime }
        if allowed.isEmpty || TimeInterval(allowed.last!.0) < maxLifetime, maxLifetime >= 60 {
            allowed.append((Int(maxLifetime), "\(Int(maxLifetime / 86400)) days (the longest allowed)"))
        }
        let preferred = allowed.contains { $0.0 == 7 * 86400 } ? 7 * 86400 : (allowed.last?.0 ?? 0)
        expiryChoices = allowed.map { Choice(seconds: $0.0, label: $0.1, selected: $0.0 == preferred) }
    }
}

/// A dashboard as its viewers see it; the page's script keeps it live from the one stream.
struct DashboardPage: Sendable {
    let title: String
    let details: String
    let selection: String
    let basePath: String
    /// The engines' names in table order, for the page's script.
    let engines: String
    /// The engines named for people ("local, prod") when there are several; nil for a one-engine dashboard, whose
    /// table has no engine column.
    let engineNames: String?
    let showStatus: Bool
    let showStats: Bool
    let showEvents: Bool
    let showLogs: Bool
    let rows: [DashboardContainerStatus]
    let hasRows: Bool
    /// One line for each engine that did not answer.
    let engineProblems: [String]
    /// Watched through a share link: no navigation, no edit links.
    let viaLink: Bool
    let canEdit: Bool
    let editPath: String
    let sharePath: String
    let redacted: Bool
}

/// One selected container within a dashboard: what the status table says, and its live stats.
struct DashboardContainerPage: Sendable {
    let title: String
    let dashboardTitle: String
    let basePath: String
    let row: DashboardContainerStatus
    /// The engine's own words, such as `Up 5 minutes (healthy)`.
    let status: String
    /// The container's engine when the dashboard spans several.
    let engineName: String?
    let started: DisplayTime?
    let showStats: Bool
    let showLogs: Bool
    let viaLink: Bool
}

/// What the editor's preview answers.
struct PreviewResult: Encodable, Sendable {
    struct Match: Encodable, Sendable {
        let name: String
        let state: String
        let image: String
        let engine: String
    }

    let summary: String
    let problems: [String]
    var matches: [Match]
    var engineProblem: String?
}
