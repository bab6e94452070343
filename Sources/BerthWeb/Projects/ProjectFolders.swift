import BerthStore
import Compose
import Foundation

/// Where Berth's compose projects live: `--projects-dir`, one folder a project with `compose.yaml` and `.env` — the
/// files of the version last saved or deployed, so the compose CLI (`docker compose -f …`) reads what runs. Every
/// version is also kept in the database, which is what the pages read.
struct ProjectFolders: Sendable {
    let root: String

    static let composeFileName = "compose.yaml"
    static let envFileName = ".env"

    func directory(_ project: String) -> String {
        URL(fileURLWithPath: root).appendingPathComponent(project).path
    }

    /// A project's place as its containers' labels name it, and the version they come from.
    func place(_ project: String, version: Int? = nil) -> ComposeContainerSpec.ProjectPlace {
        let directory = directory(project)
        return .init(
            name: project, directory: directory, file: URL(fileURLWithPath: directory).appendingPathComponent(Self.composeFileName).path,
            version: version
        )
    }

    /// The profiles a version enables: `COMPOSE_PROFILES` in its `.env`, as the compose CLI reads it.
    func profiles(envFile: String) -> Set<String> {
        let value = (try? DotEnv.parse(envFile))?.last { $0.key == "COMPOSE_PROFILES" }?.value ?? ""
        return Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Writes a version's files into its project's folder (made when missing); each file replaced whole, never half
    /// written. An empty `.env` is no file.
    func write(_ version: ProjectVersion) throws {
        let folder = URL(fileURLWithPath: directory(version.project))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        try Data(version.composeFile.utf8).write(to: folder.appendingPathComponent(Self.composeFileName), options: .atomic)
        let env = folder.appendingPathComponent(Self.envFileName)
        if version.envFile.isEmpty {
            try? FileManager.default.removeItem(at: env)
        } else {
            try Data(version.envFile.utf8).write(to: env, options: .atomic)
        }
    }

    /// A version's files read as a project: `.env` gives the variables (the server's own environment does not: what
    /// a project reads is in its version), `env_file` paths are read from the project's folder.
    func read(project: String, composeFile: String, envFile: String) throws(ComposeErrors) -> ComposeProject {
        var variables: [String: String] = [:]
        do {
            for (key, value) in try DotEnv.parse(envFile) { variables[key] = value }
        } catch {
            throw ComposeErrors(issues: [ComposeIssue(".env line \(error.line): \(error.message)", line: nil)])
        }
        let parser = ComposeParser(variables: variables, projectDirectory: directory(project)) { path in
            try? String(contentsOfFile: path, encoding: .utf8)
        }
        return try parser.parse(composeFile)
    }

    func read(_ version: ProjectVersion) throws(ComposeErrors) -> ComposeProject {
        try read(project: version.project, composeFile: version.composeFile, envFile: version.envFile)
    }
}
