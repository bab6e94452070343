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

    /// Removes a project's folder (its files; anything else put there too).
    func remove(_ project: String) throws {
        let folder = directory(project)
        guard FileManager.default.fileExists(atPath: folder) else { return }
        try FileManager.default.removeItem(atPath: folder)
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
            try? Self.readText(path)
        }
        return try parser.parse(composeFile)
    }

    /// The most a project's file (or an `env_file`) may hold: what a form takes.
    static let fileLimit = 1024 * 1024

    struct UnreadableFile: Error, CustomStringConvertible {
        let description: String
    }

    /// A text file Berth reads for a project (`env_file`, an imported compose file): a regular file (not a device or
    /// a pipe, which would never end) of at most `fileLimit` bytes, in UTF-8.
    static func readText(_ path: String) throws -> String {
        // Through links to the file itself, whose type and size the checks are about.
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: target) else {
            throw UnreadableFile(description: "\(path) does not exist or cannot be read")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else { throw UnreadableFile(description: "\(path) is not a regular file") }
        guard (attributes[.size] as? Int ?? 0) <= fileLimit else {
            throw UnreadableFile(description: "\(path) is larger than \(fileLimit / 1024) KiB")
        }
        guard let handle = FileHandle(forReadingAtPath: target) else { throw UnreadableFile(description: "\(path) cannot be read by Berth") }
        defer { try? handle.close() }
        let data = try handle.read(upToCount: fileLimit + 1) ?? Data()
        guard data.count <= fileLimit, let text = String(data: data, encoding: .utf8) else {
            throw UnreadableFile(description: "\(path) is not UTF-8 text of at most \(fileLimit / 1024) KiB")
        }
        return text
    }

    func read(_ version: ProjectVersion) throws(ComposeErrors) -> ComposeProject {
        try read(project: version.project, composeFile: version.composeFile, envFile: version.envFile)
    }
}
