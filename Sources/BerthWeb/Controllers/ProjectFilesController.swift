import BerthStore
import Compose
import EngineAPI
import Foundation
import Hummingbird

/// A Berth project's files: admins create, edit and import them; every save is a version (author, time, message,
/// content hash) in the database, written into the project's folder, audited as `project.save` with the hash. Admins
/// read any version and the side-by-side difference of two (the files can hold secrets); others see the versions'
/// list and plans.
struct ProjectFilesController: Sendable {
    let database: AppDatabase
    let engine: EngineClient
    let folders: ProjectFolders
    let audit: AuditTrail
    let views: PageRenderer
    let editor: EditorLibrary

    func addRoutes(to routes: Routes) {
        // Projects are `local`\'s (its roles, its rows).
        let routes = routes.on(.local)
        routes.get("/javascript/codemirror.js", .signedIn, use: editorScript)
        routes.get("/javascript/codemirror.css", .signedIn, use: editorStylesheet)
        routes.get("/projects/new", .administer, use: newForm)
        routes.post("/projects", .administer, audit: .projectSave, use: create)
        routes.get("/projects/{name}/edit", .administer, use: editForm)
        routes.post("/projects/{name}/save", .administer, audit: .projectSave, use: save)
        routes.post("/projects/{name}/import", .administer, audit: .projectImport, use: importFile)
        routes.post("/projects/{name}/remove", .administer, audit: .projectRemove, use: remove)
        // A version's files can hold secrets (`.env`, environment values), which only admins see, as with a
        // container's environment.
        routes.get("/projects/{name}/versions/{number}", .administer, use: version)
        routes.get("/projects/{name}/diff", .administer, use: diff)
    }

    // MARK: Editing

    @Sendable func newForm(_ request: Request, context: SignedInContext) async throws -> Response {
        try views.page("project-edit", ProjectEditPage(creating: true, name: "", composeFile: ProjectEditPage.starter, envFile: ""), context: context)
    }

    @Sendable func editForm(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try projectName(context)
        guard let latest = try await database.latestProjectVersion(name) else {
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
        } else if try await database.latestProjectVersion(name) != nil {
            problems.append("There is a project \(name) already.")
        } else if let running = try? await engine.projectContainers(name), !running.isEmpty {
            problems.append("The engine runs a project \(name) already (started elsewhere): import it from its page instead.")
        }
        return try await store(name: name, creating: true, context: context, problems: problems, basedOn: 0)
    }

    /// `POST /projects/{name}/save`: the edited files as the next version of the one they were edited from.
    @Sendable func save(_ request: Request, context: SignedInContext) async throws -> Response {
        guard let name = try await postedProjectName(context) else { return try await refuseUnknown(context) }
        guard try await database.latestProjectVersion(name) != nil else {
            return await audit.refuseInput(context: context, targetType: "project", targetName: name, message: "No project \(name) to save.", back: "/projects")
        }
        return try await store(name: name, creating: false, context: context, problems: [], basedOn: context.form["basedOn"].flatMap(Int.init))
    }

    /// Checks the files (every problem at its line) and saves them as a version; the form again, with what was typed,
    /// when they can't be — also when someone saved another version meanwhile (checked in the save's transaction).
    private func store(name: String, creating: Bool, context: SignedInContext, problems: [String], basedOn: Int?) async throws -> Response {
        let composeFile = Self.normalized(context.form["compose"] ?? "")
        let envFile = Self.normalized(context.form["env"] ?? "")
        let message = String((context.form["message"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(500))
        let parameters = ["hash": ProjectVersion.hash(composeFile: composeFile, envFile: envFile)]
        var page = ProjectEditPage(creating: creating, name: name, composeFile: composeFile, envFile: envFile, basedOn: basedOn, message: message)
        var issues: [ComposeIssue] = []
        var problems = problems
        if basedOn == nil { problems.append("The form does not say which version it was edited from: open the editor again.") }
        for (field, file) in [("compose", "compose.yaml"), ("env", ".env")] where context.form.undecoded.contains(field) {
            problems.append("\(file) did not arrive as UTF-8 text; nothing was saved.")
        }
        if problems.isEmpty {
            do {
                _ = try folders.read(project: name, composeFile: composeFile, envFile: envFile)
            } catch {
                issues = error.issues
            }
        }
        let form = { (problems: [String], issues: [ComposeIssue]) throws -> Response in
            page.refuse(problems: problems, issues: issues)
            return try views.page("project-edit", page, context: context, status: .unprocessableContent)
        }
        guard problems.isEmpty, issues.isEmpty else {
            let summary = (problems + issues.map(\.description)).joined(separator: "; ")
            return try await audit.refuseInput(context: context, targetType: "project", targetName: name, parameters: parameters, message: summary) {
                try form(problems, issues)
            }
        }
        let folders = self.folders
        do {
            let result = try await audit.act(context: context, targetType: "project", targetName: name, parameters: parameters) { record in
                do {
                    let saved = try await database.saveProjectVersion(
                        project: name, composeFile: composeFile, envFile: envFile, author: context.user.username, message: message,
                        expectedLatest: basedOn, beforeCommit: folders.write
                    )
                    record.add(saved.map { ["version": String($0.number)] } ?? ["unchanged": "1"])
                    return saved
                } catch let stale as AppDatabase.StaleVersion {
                    record.fail(Self.problem(stale, creating: creating, name: name, basedOn: basedOn))
                    throw stale
                }
            }
            switch result {
            case .refused:
                return .redirect(to: "/projects/\(name)", flash: Flash(.error, AuditTrail.unavailableMessage))
            case .done(let saved, let recorded):
                let words = saved.map { "Saved \(name) as version \($0.number)." } ?? "Nothing changed: \(name) stays at its latest version."
                return .redirect(to: "/projects/\(name)", flash: recorded ? Flash(.ok, words) : Flash(.error, AuditTrail.unrecordedOutcome(words)))
            }
        } catch let stale as AppDatabase.StaleVersion {
            return try form([Self.problem(stale, creating: creating, name: name, basedOn: basedOn)], [])
        }
    }

    /// What a save tells when another version was saved meanwhile.
    static func problem(_ stale: AppDatabase.StaleVersion, creating: Bool, name: String, basedOn: Int?) -> String {
        switch (creating, stale.latest) {
        case (true, _): "There is a project \(name) already."
        case (false, let latest?):
            "Version \(latest.number) was saved by \(latest.author) while you edited version \(basedOn ?? 0): compare them and save again."
        case (false, nil): "\(name) was removed while you edited it."
        }
    }

    /// `POST /projects/{name}/import`: a project the compose CLI started becomes Berth's: its file (and the `.env`
    /// beside it), read where its containers' labels say, is version 1. Then Berth deploys it (recreating what
    /// Berth's configuration hash sees as different) and keeps every later version.
    @Sendable func importFile(_ request: Request, context: SignedInContext) async throws -> Response {
        guard let name = try await postedProjectName(context) else { return try await refuseUnknown(context) }
        let back = "/projects/\(name)"
        let folders = self.folders
        return await audit.perform(context: context, targetType: "project", targetName: name, back: back) { () async throws -> AuditTrail.ActionDone in
            guard try await database.latestProjectVersion(name) == nil else {
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
            let composeFile: String
            do {
                composeFile = try ProjectFolders.readText(path)
            } catch {
                throw AuditTrail.ActionFailure("Berth cannot import \(path): \(error) (it must be a file on this machine that Berth may read).")
            }
            // The `.env` beside it, if there is one (a missing one is no `.env`; one that can't be read stops the import).
            let envPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(".env").path
            var envFile = ""
            if FileManager.default.fileExists(atPath: envPath) {
                do {
                    envFile = try ProjectFolders.readText(envPath)
                } catch {
                    throw AuditTrail.ActionFailure("Berth cannot import \(envPath): \(error).")
                }
            }
            do {
                _ = try folders.read(project: name, composeFile: composeFile, envFile: envFile)
            } catch let errors as ComposeErrors {
                throw AuditTrail.ActionFailure("\(path) can't be used: " + errors.issues.map(\.description).joined(separator: "; "))
            }
            let saved: ProjectVersion?
            do {
                saved = try await database.saveProjectVersion(
                    project: name, composeFile: composeFile, envFile: envFile, author: context.user.username,
                    message: "imported from \(path)", expectedLatest: 0, beforeCommit: folders.write
                )
            } catch is AppDatabase.StaleVersion {
                throw AuditTrail.ActionFailure("\(name) is Berth's already.")
            }
            guard let version = saved else { throw AuditTrail.ActionFailure("\(name) is Berth's already.") }
            return .init(
                message: "Imported \(path) as version 1 of \(name). Deploy it to run it from Berth's folder.",
                results: ["version": "1", "hash": version.contentHash, "file": path]
            )
        }
    }

    /// `POST /projects/{name}/remove`: Berth forgets a project it keeps — its versions and its folder — once nothing
    /// of it is on the engine (take it down first). The audit trail keeps every hash it had.
    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        guard let name = try await postedProjectName(context) else { return try await refuseUnknown(context) }
        let folders = self.folders
        return await audit.perform(context: context, targetType: "project", targetName: name, back: "/projects") { () async throws -> AuditTrail.ActionDone in
            let versions = try await database.projectVersionSummaries(name)
            guard let latest = versions.first else { throw AuditTrail.ActionFailure("\(name) is not one of Berth's projects.") }
            guard try await engine.projectContainers(name).isEmpty else {
                throw AuditTrail.ActionFailure("\(name) still has containers on the engine: take it down first.")
            }
            try await database.deleteProjectVersions(name)
            try folders.remove(name)
            return .init(
                message: "Removed \(name) and its \(versions.count) version\(versions.count == 1 ? "" : "s").",
                results: ["versions": String(versions.count), "hash": latest.contentHash]
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
        let versions = try await database.projectVersionSummaries(name)
        guard let latest = versions.first else { throw HTTPError(.notFound, message: "No project \(name).") }
        let to = request.uri.queryParameters.get("to").flatMap(Int.init) ?? latest.number
        let from = request.uri.queryParameters.get("from").flatMap(Int.init) ?? (to - 1)
        guard let new = try await database.projectVersion(name, number: to), let old = try await database.projectVersion(name, number: from) else {
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

    /// The project a POST names, nil when no project could have that name.
    private func postedProjectName(_ context: SignedInContext) async throws -> String? {
        let name = context.parameters.get("name") ?? ""
        return ComposeLabel.isValidProjectName(name) ? name : nil
    }

    /// A POST for a name no project can have: refused, on record.
    private func refuseUnknown(_ context: SignedInContext) async throws -> Response {
        await audit.refuseInput(
            context: context, targetType: "project", targetName: String((context.parameters.get("name") ?? "").prefix(100)),
            message: "No such project.", back: "/projects"
        )
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
