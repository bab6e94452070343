import BerthStore
import Compose
import EngineAPI
import Foundation
import Hummingbird

/// A Berth project's files: admins create, edit and import them; every save is a version (author, time, message,
/// content hash) in the database, written into the project's folder, audited as `project.save` with the hash. Anyone
/// who sees projects reads any version and the side-by-side difference of two.
struct ProjectFilesController: Sendable {
    let database: AppDatabase
    let engine: EngineClient
    let folders: ProjectFolders
    let audit: AuditTrail
    let views: PageRenderer
    let editor: EditorLibrary

    func addRoutes(to routes: Routes) {
        routes.get("/javascript/codemirror.js", .signedIn, use: editorScript)
        routes.get("/javascript/codemirror.css", .signedIn, use: editorStylesheet)
        routes.get("/projects/new", .administer, use: newForm)
        routes.post("/projects", .administer, audit: .projectSave, use: create)
        routes.get("/projects/{name}/edit", .administer, use: editForm)
        routes.post("/projects/{name}/save", .administer, audit: .projectSave, use: save)
        routes.post("/projects/{name}/import", .administer, audit: .projectImport, use: importFile)
        routes.get("/projects/{name}/versions/{number}", .viewContainers, use: version)
        routes.get("/projects/{name}/diff", .viewContainers, use: diff)
    }

    // MARK: Editing

    @Sendable func newForm(_ request: Request, context: SignedInContext) async throws -> Response {
        try views.page("project-edit", ProjectEditPage(creating: true, name: "", composeFile: ProjectEditPage.starter, envFile: ""), context: context)
    }

    @Sendable func editForm(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try projectName(context)
        guard let latest = try await database.projectVersions(name).first else {
            throw HTTPError(.notFound, message: "\(name) is not a project of Berth's: import its file first.")
        }
        return try views.page(
            "project-edit", ProjectEditPage(creating: false, name: name, composeFile: latest.composeFile, envFile: latest.envFile, basedOn: latest.number),
            context: context
        )
    }

    /// `POST /projects`: a new project from the form (its name must be free, on the engine too).
    @Sendable func create(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = (context.form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        var problems: [String] = []
        if !ComposeLabel.isValidProjectName(name) {
            problems.append("A project name is lowercase letters, digits, - and _, starting with a letter or digit (at most 63).")
        } else if try await !database.projectVersions(name).isEmpty {
            problems.append("There is a project \(name) already.")
        } else if let running = try? await engine.projectContainers(name), !running.isEmpty {
            problems.append("The engine runs a project \(name) already (started elsewhere): import it from its page instead.")
        }
        return try await store(name: name, creating: true, context: context, problems: problems)
    }

    /// `POST /projects/{name}/save`: the edited files as the next version.
    @Sendable func save(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try projectName(context)
        guard let latest = try await database.projectVersions(name).first else {
            return await audit.refuseInput(context: context, targetType: "project", targetName: name, message: "No project \(name) to save.", back: "/projects")
        }
        var problems: [String] = []
        if let basedOn = context.form["basedOn"].flatMap(Int.init), basedOn != latest.number {
            problems.append("Version \(latest.number) was saved by \(latest.author) while you edited version \(basedOn): compare them and save again.")
        }
        return try await store(name: name, creating: false, context: context, problems: problems, basedOn: latest.number)
    }

    /// Checks the files (every problem at its line) and saves them as a version; the form again when they can't be.
    private func store(name: String, creating: Bool, context: SignedInContext, problems: [String], basedOn: Int? = nil) async throws -> Response {
        let composeFile = Self.normalized(context.form["compose"] ?? "")
        let envFile = Self.normalized(context.form["env"] ?? "")
        let message = String((context.form["message"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(500))
        var page = ProjectEditPage(creating: creating, name: name, composeFile: composeFile, envFile: envFile, basedOn: basedOn, message: message)
        var issues: [ComposeIssue] = []
        if problems.isEmpty {
            do {
                _ = try folders.read(project: name, composeFile: composeFile, envFile: envFile)
            } catch {
                issues = error.issues
            }
        }
        guard problems.isEmpty, issues.isEmpty else {
            page.refuse(problems: problems, issues: issues)
            let summary = (problems + issues.map(\.description)).joined(separator: "; ")
            return try await audit.refuseInput(context: context, targetType: "project", targetName: name, message: summary) {
                try views.page("project-edit", page, context: context, status: .unprocessableContent)
            }
        }
        let folders = self.folders
        return await audit.perform(context: context, targetType: "project", targetName: name, back: "/projects/\(name)") { () async throws -> AuditTrail.ActionDone in
            guard let version = try await database.saveProjectVersion(
                project: name, composeFile: composeFile, envFile: envFile, author: context.user.username, message: message
            ) else {
                return .init(message: "Nothing changed: \(name) stays at its latest version.", results: ["unchanged": "1"])
            }
            try folders.write(version)
            return .init(
                message: "Saved \(name) as version \(version.number).",
                results: ["version": String(version.number), "hash": version.contentHash]
            )
        }
    }

    /// `POST /projects/{name}/import`: a project the compose CLI started becomes Berth's: its file (and the `.env`
    /// beside it), read where its containers' labels say, is version 1. Then Berth deploys it (recreating what
    /// Berth's configuration hash sees as different) and keeps every later version.
    @Sendable func importFile(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try projectName(context)
        let back = "/projects/\(name)"
        let folders = self.folders
        return await audit.perform(context: context, targetType: "project", targetName: name, back: back) { () async throws -> AuditTrail.ActionDone in
            guard try await database.projectVersions(name).isEmpty else {
                throw AuditTrail.ActionFailure("\(name) is Berth's already: edit it instead.")
            }
            let containers = try await engine.projectContainers(name)
            let files = ProjectPage.files(of: containers).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let path = files.first, !path.isEmpty else {
                throw AuditTrail.ActionFailure("\(name)'s containers do not say where its compose file is.")
            }
            guard files.count == 1 else {
                throw AuditTrail.ActionFailure("\(name) was started from several files (\(files.joined(separator: ", "))); Berth imports one.")
            }
            guard let composeFile = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw AuditTrail.ActionFailure("Berth cannot read \(path) (it must be on this machine and readable by Berth).")
            }
            let envPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(".env").path
            let envFile = (try? String(contentsOfFile: envPath, encoding: .utf8)) ?? ""
            do {
                _ = try folders.read(project: name, composeFile: composeFile, envFile: envFile)
            } catch let errors as ComposeErrors {
                throw AuditTrail.ActionFailure("\(path) can't be used: " + errors.issues.map(\.description).joined(separator: "; "))
            }
            guard let version = try await database.saveProjectVersion(
                project: name, composeFile: composeFile, envFile: envFile, author: context.user.username, message: "imported from \(path)"
            ) else { throw AuditTrail.ActionFailure("\(name) is Berth's already.") }
            try folders.write(version)
            return .init(
                message: "Imported \(path) as version 1 of \(name). Deploy it to run it from Berth's folder.",
                results: ["version": "1", "hash": version.contentHash, "file": path]
            )
        }
    }

    // MARK: Reading

    @Sendable func version(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try projectName(context)
        guard let number = context.parameters.get("number").flatMap(Int.init),
              let version = try await database.projectVersion(name, number: number) else {
            throw HTTPError(.notFound, message: "No such version of \(name).")
        }
        return try views.page("project-version", ProjectVersionPage(version: version), context: context)
    }

    /// `/projects/{name}/diff?from=A&to=B`: two versions side by side (B defaults to the latest, A to the one before B).
    @Sendable func diff(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try projectName(context)
        let versions = try await database.projectVersions(name)
        guard let latest = versions.first else { throw HTTPError(.notFound, message: "No project \(name).") }
        let to = request.uri.queryParameters.get("to").flatMap(Int.init) ?? latest.number
        let from = request.uri.queryParameters.get("from").flatMap(Int.init) ?? (to - 1)
        guard let new = versions.first(where: { $0.number == to }), let old = versions.first(where: { $0.number == from }) else {
            throw HTTPError(.notFound, message: "\(name) has no version \(versions.contains { $0.number == to } ? from : to).")
        }
        return try views.page("project-diff", ProjectDiffPage(old: old, new: new, numbers: versions.map(\.number)), context: context)
    }

    // MARK: The editor's library

    @Sendable func editorScript(_ request: Request, context: SignedInContext) async throws -> Response {
        try editor.file("text/javascript; charset=utf-8") { try editor.script() }
    }

    @Sendable func editorStylesheet(_ request: Request, context: SignedInContext) async throws -> Response {
        try editor.file("text/css; charset=utf-8") { try editor.stylesheet() }
    }

    private func projectName(_ context: SignedInContext) throws -> String {
        let name = try context.parameters.require("name")
        guard ComposeLabel.isValidProjectName(name) else { throw HTTPError(.notFound, message: "No such project.") }
        return name
    }

    /// What a browser's textarea sends (CRLF lines) as the file it is.
    static func normalized(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }
}
