import ArgumentParser
import BerthStore
import BerthWeb
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The database file, as `serve` finds it: the flag, else `BERTH_DATABASE`, else `database` in the configuration file
/// (read only when neither names one, so that a broken file never stands between an auditor and `--database`), else
/// the default.
struct DatabaseOption: ParsableArguments {
    @Option(help: "SQLite database file (env BERTH_DATABASE, else the configuration file's, default \(AppConfiguration.defaultDatabasePath)).")
    var database: String?

    @Option(help: "Configuration file to take the database from (env BERTH_CONFIG, default \(ConfigurationFile.defaultPath)).")
    var config: String?

    func path() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let named = database ?? variable("BERTH_DATABASE") { return named }
        let namedFile = config ?? variable("BERTH_CONFIG")
        do {
            let file = try ConfigurationFile.load(path: namedFile ?? ConfigurationFile.defaultPath, explicit: namedFile != nil)
            if case .text(let path)? = file?.value("database") { return path }
            return AppConfiguration.defaultDatabasePath
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    func open(readOnly: Bool = false) throws -> AppDatabase {
        let path = try path()
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no database at \(path) (give --database or BERTH_DATABASE)")
        }
        do {
            return try readOnly ? AppDatabase.openReadOnly(path: path) : AppDatabase.open(path: path)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// Who runs a command-line export, for its audit record: the account of the process (not what the environment
/// claims), and the sudo caller's uid when there is one.
func commandLineActor() -> String {
    let uid = getuid()
    var name = String(uid)
    if let entry = getpwuid(uid), let pwName = entry.pointee.pw_name { name = String(cString: pwName) }
    if let sudoUID = ProcessInfo.processInfo.environment["SUDO_UID"], !sudoUID.isEmpty { name += " (sudo from uid \(sudoUID))" }
    return "cli:" + name
}

/// `berth audit …`: for auditors who are not in the browser.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Verify or export the audit trail.", subcommands: [Verify.self, Export.self]
    )

    /// `berth audit verify`: exit 0 when the chain is intact, 1 with the first broken row otherwise.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the audit hash chain and report the first row that was edited, deleted or inserted, and check every console recording against its audit row."
        )
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let store = try database.open(readOnly: true)
            let started = ContinuousClock.now
            let result = try await store.verifyAuditChain()
            let seconds = max((ContinuousClock.now - started) / .milliseconds(1), 1) / 1000
            print(result.description)
            print("checked \(result.checkedRows) rows in \(String(format: "%.1f", seconds)) s (\(Int(Double(result.checkedRows) / seconds)) rows a second)")
            // Each console's recording against the hash its closing row (part of the chain) holds.
            let recordings = try await store.verifyConsoleRecordings()
            let broken = recordings.filter { $0.problem != nil }
            for check in broken { print(check.problem ?? "") }
            if !recordings.isEmpty && broken.isEmpty {
                print(recordings.count == 1
                    ? "1 console recording matches its audit row."
                    : "\(recordings.count) console recordings match their audit rows.")
            }
            if !result.isIntact || !broken.isEmpty { throw ExitCode(1) }
        }
    }

    /// `berth audit export`: the filtered trail as CSV or NDJSON on standard output (or a file), streamed.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export audit rows, newest first, as CSV or NDJSON.")
        @OptionGroup var database: DatabaseOption

        @Option(help: "csv or ndjson.") var format: String = "csv"
        @Option(help: "Write to this file instead of standard output.") var output: String?
        @Option(help: "Only this actor.") var actor: String?
        @Option(help: "Only this action, such as container.stop.") var action: String?
        @Option(help: "Only this target id (or id prefix) or name.") var target: String?
        @Option(help: "Only this outcome: ok, denied or error.") var outcome: String?
        @Option(help: "From this UTC time on, such as 2026-11-01 or 2026-11-01T08:00.") var from: String?
        @Option(help: "Before this UTC time.") var to: String?
        @Option(help: "Free text anywhere in the row.") var text: String?

        func run() async throws {
            guard let exportFormat = AuditExportFormat(rawValue: format) else {
                throw ValidationError("--format must be csv or ndjson")
            }
            var query = AuditQuery(actor: actor, action: action, target: target, text: text)
            if let outcome {
                guard let parsed = AuditEvent.Outcome(rawValue: outcome) else { throw ValidationError("--outcome must be ok, denied or error") }
                query.outcome = parsed
            }
            if let from {
                guard let date = AuditQuery.parseTime(from) else { throw ValidationError("--from '\(from)' is not a time like 2026-11-01T08:00") }
                query.from = date
            }
            if let to {
                guard let date = AuditQuery.parseTime(to) else { throw ValidationError("--to '\(to)' is not a time like 2026-11-01T08:00") }
                query.to = date
            }
            let store = try database.open()
            let handle: FileHandle
            if let output {
                // Opened in place, not replaced: Foundation's createFile writes a new file and renames it over the
                // path, which turned /dev/null (or a named pipe) into a regular file.
                let descriptor = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else {
                    throw ValidationError("cannot write \(output): \(String(cString: strerror(errno)))")
                }
                // An existing file keeps its mode when opened: the trail is no more readable than a new export.
                var status = stat()
                if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG { _ = fchmod(descriptor, 0o600) }
                handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            } else {
                handle = FileHandle.standardOutput
            }
            var rows = 0
            var outcomeOfExport = AuditEvent.Outcome.ok
            var failure: String?
            do {
                if let header = exportFormat.header { try handle.write(contentsOf: Data(header.utf8)) }
                for try await batch in store.auditExport(matching: query) {
                    var chunk = ""
                    for event in batch { chunk += exportFormat.line(event) }
                    try handle.write(contentsOf: Data(chunk.utf8))
                    rows += batch.count
                }
            } catch {
                outcomeOfExport = .error
                failure = "\(error)"
            }
            try? handle.close()
            // The export is itself part of the trail.
            try await store.recordAudit(AuditEvent(
                actor: commandLineActor(), clientAddress: "cli", action: AuditAction.auditExport.rawValue, targetType: "audit",
                parameters: query.parametersJSON(extra: ["format": format, "rows": String(rows)]), outcome: outcomeOfExport,
                errorMessage: failure
            ))
            if let failure { throw ValidationError("export stopped after \(rows) rows: \(failure)") }
        }
    }
}

/// `berth db …`: care of the database file.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Care of the SQLite database.", subcommands: [Backup.self]
    )

    /// `berth db backup PATH`: an online copy of the live database.
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the live database to PATH with SQLite's online backup (Berth may keep running)."
        )
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The new file to write.") var path: String

        func run() async throws {
            do {
                try await database.open().backup(to: path)
            } catch let error as StoreError {
                throw ValidationError(error.description)
            }
            print("backed up to \(path)")
        }
    }
}
