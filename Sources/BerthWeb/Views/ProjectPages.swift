import BerthStore
import Compose
import EngineAPI
import Foundation

/// `/projects`: every compose project the engine runs, found by the compose CLI's labels — Berth's and those started
/// with `docker compose` alike.
struct ProjectListPage: Sendable {
    let title = "Projects"
    let rows: [Row]
    let isEmpty: Bool

    struct Row: Sendable {
        let name: String
        let services: String
        let running: Int
        let total: Int
        let state: String
        /// `running`, `exited` or `partly`, for the page's colours.
        let stateClass: String
        let configFiles: String
        /// Berth keeps its files (versions); otherwise it is "external", started by the compose CLI.
        let managed: Bool
        let version: String
    }

    /// - Parameter saved: Berth's projects, each with its latest version (also those with nothing running yet).
    init(containers: [ContainerSummary], saved: [ProjectVersion]) {
        let grouped = Dictionary(grouping: containers.filter { $0.labels?[ComposeLabel.project] != nil }) { $0.labels?[ComposeLabel.project] ?? "" }
        let latest = Dictionary(saved.map { ($0.project, $0) }) { first, _ in first }
        rows = Set(grouped.keys).union(latest.keys).sorted().map { name in
            let members = grouped[name] ?? []
            let running = members.filter { $0.state == "running" }.count
            let services = Set(members.compactMap { $0.labels?[ComposeLabel.service] }).sorted()
            let stateClass = members.isEmpty ? "created" : running == members.count ? "running" : running == 0 ? "exited" : "partly"
            return Row(
                name: name, services: services.joined(separator: ", "), running: running, total: members.count,
                state: members.isEmpty ? "not deployed" : stateClass == "partly" ? "partly running" : stateClass, stateClass: stateClass,
                configFiles: ProjectPage.files(of: members), managed: latest[name] != nil,
                version: latest[name].map { "v\($0.number)" } ?? "external"
            )
        }
        isEmpty = rows.isEmpty
    }
}

/// `/projects/{name}`: the project's containers by service, with state and health.
struct ProjectPage: Sendable {
    let title: String
    let name: String
    let rows: [Row]
    let workingDir: String
    /// nil when the containers name none (a Mustache section takes an empty string for true).
    let configFiles: String?
    /// Berth's project (it keeps its versions), or one started elsewhere ("external").
    let managed: Bool
    let versions: [VersionRow]
    let hasContainers: Bool
    /// What the containers run, by the version label Berth puts on them ("v3", "v2 and v3"); nil: none.
    let deployedVersions: String?
    /// The services a scale may be set for: the latest version's and those with containers.
    let serviceNames: [String]

    struct VersionRow: Sendable {
        let number: Int
        let author: String
        let createdAt: String
        let message: String
        let shortHash: String
        let isDeployed: Bool
        let previous: Int?
    }

    struct Row: Sendable {
        let id: String
        let name: String
        let service: String
        let number: String
        let state: String
        let status: String
        let image: String
        let ports: String
    }

    init(name: String, containers: [ContainerSummary], versions: [ProjectVersion] = [], services: [String] = []) {
        title = "Project \(name)"
        self.name = name
        managed = !versions.isEmpty
        hasContainers = !containers.isEmpty
        let running = Set(containers.compactMap { $0.labels?[ProjectDeployment.versionLabel].flatMap(Int.init) })
        deployedVersions = running.isEmpty ? nil : running.sorted().map { "v\($0)" }.joined(separator: " and ")
        serviceNames = Set(services + containers.compactMap { $0.labels?[ComposeLabel.service] }).sorted()
        self.versions = versions.map { version in
            VersionRow(
                number: version.number, author: version.author, createdAt: ProjectVersionPage.time(version.createdAt),
                message: version.message, shortHash: String(version.contentHash.prefix(12)), isDeployed: running.contains(version.number),
                previous: version.number > 1 ? version.number - 1 : nil
            )
        }
        rows = containers.map { summary in
            let row = ContainerRow(summary)
            let labels = summary.labels ?? [:]
            return Row(
                id: row.id, name: row.name, service: labels[ComposeLabel.service] ?? "", number: labels[ComposeLabel.containerNumber] ?? "",
                state: row.state, status: row.status, image: row.image, ports: row.ports
            )
        }.sorted { ($0.service, Int($0.number) ?? 0) < ($1.service, Int($1.number) ?? 0) }
        workingDir = containers.compactMap { $0.labels?[ComposeLabel.workingDir] }.first ?? ""
        configFiles = Self.files(of: containers).isEmpty ? nil : Self.files(of: containers)
    }

    /// The project's files as paths: the compose CLI 1.x labels them relative to the working folder.
    static func files(of containers: [ContainerSummary]) -> String {
        let labels = containers.first { $0.labels?[ComposeLabel.configFiles] != nil }?.labels ?? [:]
        let directory = labels[ComposeLabel.workingDir] ?? ""
        return (labels[ComposeLabel.configFiles] ?? "").split(separator: ",").map { file in
            file.hasPrefix("/") || directory.isEmpty ? String(file) : URL(fileURLWithPath: directory).appendingPathComponent(String(file)).path
        }.joined(separator: ", ")
    }
}

/// The editor: a new project (name, files) or the next version of one.
struct ProjectEditPage: Sendable {
    let title: String
    let creating: Bool
    let name: String
    let composeFile: String
    let envFile: String
    var basedOn: Int?
    var message = ""
    private(set) var problems: [String] = []
    private(set) var issueRows: [IssueRow] = []
    private(set) var hasIssues = false
    /// The lines with an error, for the editor to mark: "3,7".
    private(set) var errorLines = ""

    /// What keeps the files from being saved: the form's problems, the file's issues at their lines.
    mutating func refuse(problems: [String], issues: [ComposeIssue]) {
        self.problems = problems
        issueRows = issues.map { IssueRow(line: $0.line, message: $0.message) }
        hasIssues = !issues.isEmpty
        errorLines = issues.compactMap(\.line).map(String.init).joined(separator: ",")
    }

    struct IssueRow: Sendable {
        let line: Int?
        let message: String
    }

    init(creating: Bool, name: String, composeFile: String, envFile: String, basedOn: Int? = nil, message: String = "") {
        title = creating ? "New project" : "Edit \(name)"
        self.creating = creating
        self.name = name
        self.composeFile = composeFile
        self.envFile = envFile
        self.basedOn = basedOn
        self.message = message
    }

    /// What a new project starts from.
    static let starter = """
        services:
          web:
            image: busybox
            command: ["httpd", "-f", "-p", "8080"]
            restart: unless-stopped

        """
}

/// One saved version's files.
struct ProjectVersionPage: Sendable {
    let title: String
    let name: String
    let number: Int
    let author: String
    let createdAt: String
    /// nil when the save had none.
    let message: String?
    let contentHash: String
    let composeFile: String
    let envFile: String
    let hasEnv: Bool
    let previous: Int?

    init(version: ProjectVersion) {
        title = "\(version.project) version \(version.number)"
        name = version.project
        number = version.number
        author = version.author
        createdAt = Self.time(version.createdAt)
        message = version.message.isEmpty ? nil : version.message
        contentHash = version.contentHash
        composeFile = version.composeFile
        envFile = version.envFile
        hasEnv = !version.envFile.isEmpty
        previous = version.number > 1 ? version.number - 1 : nil
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
    }
}

/// Two versions side by side, line by line: what was removed on the left, what was added on the right.
struct ProjectDiffPage: Sendable {
    let title: String
    let name: String
    let from: Int
    let to: Int
    let files: [File]
    let choices: [Choice]

    struct Choice: Sendable {
        let number: Int
        let isFrom: Bool
        let isTo: Bool
    }

    struct File: Sendable {
        let name: String
        let rows: [Row]
        let unchanged: Bool
        /// Too many lines to compare here (the comparison's time grows with them): only their counts are shown.
        let tooLarge: Bool
        let oldLines: Int
        let newLines: Int

        init(name: String, old: String, new: String) {
            self.name = name
            unchanged = old == new
            let before = ProjectDiffPage.lines(of: old)
            let after = ProjectDiffPage.lines(of: new)
            oldLines = before.count
            newLines = after.count
            tooLarge = !unchanged && before.count + after.count > ProjectDiffPage.lineLimit
            rows = unchanged || tooLarge ? [] : ProjectDiffPage.rows(before, after)
        }
    }

    /// The most lines (both sides) compared side by side.
    static let lineLimit = 10000

    struct Row: Sendable {
        let oldNumber: Int?
        let oldText: String
        let newNumber: Int?
        let newText: String
        /// `same`, `changed`, `removed` or `added`.
        let kind: String
    }

    init(old: ProjectVersion, new: ProjectVersion, numbers: [Int]) {
        title = "\(new.project): version \(old.number) and \(new.number)"
        name = new.project
        from = old.number
        to = new.number
        files = [
            File(name: "compose.yaml", old: old.composeFile, new: new.composeFile),
            File(name: ".env", old: old.envFile, new: new.envFile),
        ]
        choices = numbers.sorted().map { Choice(number: $0, isFrom: $0 == old.number, isTo: $0 == new.number) }
    }

    /// A text's lines; the newline that ends the last one starts no line of its own.
    static func lines(of text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// The two texts' lines aligned: a removed line beside an added one is a change.
    static func rows(_ before: [String], _ after: [String]) -> [Row] {
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in after.difference(from: before) {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        var rows: [Row] = []
        var i = 0
        var j = 0
        while i < before.count || j < after.count {
            let gone = i < before.count && removed.contains(i)
            let came = j < after.count && inserted.contains(j)
            if gone && came {
                rows.append(Row(oldNumber: i + 1, oldText: before[i], newNumber: j + 1, newText: after[j], kind: "changed"))
                i += 1
                j += 1
            } else if gone {
                rows.append(Row(oldNumber: i + 1, oldText: before[i], newNumber: nil, newText: "", kind: "removed"))
                i += 1
            } else if came {
                rows.append(Row(oldNumber: nil, oldText: "", newNumber: j + 1, newText: after[j], kind: "added"))
                j += 1
            } else if i < before.count, j < after.count {
                rows.append(Row(oldNumber: i + 1, oldText: before[i], newNumber: j + 1, newText: after[j], kind: "same"))
                i += 1
                j += 1
            } else {
                break
            }
        }
        return rows
    }
}

/// What deploying a version would do, before it is done.
struct ProjectPlanPage: Sendable {
    let title: String
    let name: String
    let number: Int
    let contentHash: String
    let isRollback: Bool
    let steps: [Step]
    let nothingToDo: Bool
    let summary: String
    /// Admin-only settings in the version; an operator can't deploy it.
    let adminOnly: [String]
    let hasAdminOnly: Bool
    let refusedToYou: Bool
    let warnings: [String]

    struct Step: Sendable {
        let service: String
        let container: String
        /// `create`, `recreate`, `keep`, `start`, `remove`.
        let action: String
        let detail: String
    }

    init(version: ProjectVersion, planned: ProjectDeployment.Planned, latest: Int, isAdmin: Bool) {
        title = "Deploy \(version.project) version \(version.number)"
        name = version.project
        number = version.number
        contentHash = version.contentHash
        isRollback = version.number < latest
        steps = planned.plan.steps.map { step in
            switch step.action {
            case .create: Step(service: step.service, container: step.containerName, action: "create", detail: "new container")
            case .recreate(_, let keys):
                Step(
                    service: step.service, container: step.containerName, action: "recreate",
                    detail: keys.isEmpty ? "its configuration changed" : "changed: " + keys.joined(separator: ", ")
                )
            case .keep(_, let start):
                Step(service: step.service, container: step.containerName, action: start ? "start" : "keep", detail: start ? "unchanged, stopped: started" : "unchanged")
            case .remove: Step(service: step.service, container: step.containerName, action: "remove", detail: "no longer in the file or above the scale")
            }
        }
        nothingToDo = planned.plan.isEmpty
        summary = planned.plan.counts.summary
        adminOnly = planned.project.adminOnly.map(\.description)
        hasAdminOnly = !adminOnly.isEmpty
        refusedToYou = !isAdmin && hasAdminOnly
        warnings = planned.project.warnings.map(\.description)
    }
}
