import BerthStore
import EngineAPI
import Foundation

/// What `job.mustache` shows: a job live (from memory) or ended (from its row).
struct JobPage: Sendable {
    let id: String
    let title: String
    let kind: String
    let owner: String
    let state: String
    let created: DisplayTime
    let started: DisplayTime?
    let ended: DisplayTime?
    let summary: String
    let message: String?
    let isFinal: Bool
    let succeeded: Bool
    /// The engine it works on, by name.
    let engine: String?
    let canCancel: Bool
    let stream: String
    let current: Int64
    let total: Int64
    let items: [Item]
    let hasItems: Bool
    let log: String
    /// For a pull: the image's page and the run form, shown once it succeeded.
    let imageLink: String?
    let runLink: String?
    /// A project's deploy, scale or pull: its page.
    let projectLink: String?

    struct Item: Sendable {
        let id: String
        let status: String
        let progress: String
    }

    init(record: JobRecord, snapshot: JobSnapshot?, log: [String], canCancel: Bool, preferences: UserPreferences) {
        let id = record.id ?? 0
        self.id = String(id)
        title = record.title
        kind = JobKind(rawValue: record.kind)?.label ?? record.kind
        owner = record.owner
        state = (snapshot?.state ?? record.state).rawValue
        created = DisplayTime(record.createdAt, preferences: preferences)
        started = record.startedAt.map { DisplayTime($0, preferences: preferences) }
        ended = record.endedAt.map { DisplayTime($0, preferences: preferences) }
        summary = snapshot?.summary ?? ""
        message = snapshot?.message ?? record.message
        let finalState = (snapshot?.state ?? record.state)
        isFinal = finalState.isFinal
        succeeded = finalState == .succeeded
        self.canCancel = canCancel && !isFinal
        stream = "/jobs/\(id)/stream"
        current = snapshot?.current ?? 0
        total = snapshot?.total ?? 0
        items = (snapshot?.items ?? []).map {
            Item(id: $0.id, status: $0.status, progress: Self.progress(current: $0.current, total: $0.total))
        }
        hasItems = !items.isEmpty
        self.log = log.joined(separator: "\n")
        // A pull's or a commit's image: its page and the run form.
        // On the job's own engine: local's plain paths, another's under /engines/NAME.
        engine = record.engine
        let base = record.engine.map { $0 == EngineDefinition.localName ? "" : "/engines/\($0)" } ?? ""
        if record.kind == JobKind.imagePull.rawValue || record.kind == JobKind.containerCommit.rawValue, let target = record.target {
            imageLink = base + "/images/\(EngineClientPath.escape(target))"
            runLink = base + "/containers/new?image=\(target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        } else {
            imageLink = nil
            runLink = nil
        }
        let projectKinds: Set<String> = [JobKind.projectDeploy.rawValue, JobKind.projectScale.rawValue, JobKind.projectPull.rawValue]
        projectLink = projectKinds.contains(record.kind) ? record.target.map { "/projects/\(EngineClientPath.escape($0))" } : nil
    }

    static func progress(current: Int64?, total: Int64?) -> String {
        guard let total, total > 0 else { return "" }
        let format = { (bytes: Int64) in ByteCountFormatter.string(fromByteCount: bytes, countStyle: .binary) }
        return "\(format(current ?? 0)) / \(format(total))"
    }
}

/// What `jobs.mustache` shows: running jobs and recent ones the user may see, newest first.
struct JobListPage: Sendable {
    let title = "Jobs"
    let rows: [Row]
    let isEmpty: Bool

    struct Row: Sendable {
        let id: String
        let title: String
        let kind: String
        let owner: String
        let state: String
        let created: DisplayTime
        let summary: String
    }

    init(records: [(JobRecord, JobSnapshot?)], preferences: UserPreferences) {
        rows = records.map { record, snapshot in
            Row(
                id: record.id.map(String.init) ?? "", title: record.title, kind: JobKind(rawValue: record.kind)?.label ?? record.kind,
                owner: record.owner, state: (snapshot?.state ?? record.state).rawValue,
                created: DisplayTime(record.createdAt, preferences: preferences),
                summary: snapshot.map { $0.message ?? $0.summary } ?? record.message ?? ""
            )
        }
        isEmpty = rows.isEmpty
    }
}
