import BerthStore
import Foundation
import Testing
import TestSupport

/// `berth audit verify`, `berth audit export` and `berth db backup`, run as an auditor would: the built binary.
@Suite struct AuditCommandLineTests {
    func berth(_ arguments: [String]) throws -> BerthCommandLine.Run {
        try BerthCommandLine.run(arguments)
    }

    func seeded(_ directory: URL) async throws -> String {
        let path = directory.appendingPathComponent("berth.sqlite").path
        let database = try AppDatabase.open(path: path)
        for index in 1...30 {
            try await database.recordAudit(AuditEvent(
                actor: index % 2 == 0 ? "alice" : "bob", action: "container.stop", targetName: "db-\(index)",
                outcome: index % 3 == 0 ? .denied : .ok
            ))
        }
        return path
    }

    @Test func verifySaysIntactOrNamesTheFirstBrokenRow() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try await seeded(directory)
        let intact = try berth(["audit", "verify", "--database", path])
        #expect(intact.status == 0)
        #expect(intact.output.contains("audit chain intact: 30 rows, newest row 30"))
        #expect(intact.output.contains("checked 30 rows in ") && intact.output.contains(" rows a second)"))
        #expect(try await ChildProcess.run("/usr/bin/sqlite3", [path, "DROP TRIGGER auditEvent_append_only; UPDATE auditEvent SET outcome = 'ok' WHERE id = 12"]) == 0)
        let broken = try berth(["audit", "verify", "--database", path])
        #expect(broken.status == 1)
        #expect(broken.output.contains("BROKEN at row 12"))
        let missing = try berth(["audit", "verify", "--database", directory.appendingPathComponent("none.sqlite").path])
        #expect(missing.status != 0)
        #expect(missing.errors.contains("no database at"))
    }

    @Test func exportWritesTheFilteredRowsAndRecordsItself() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try await seeded(directory)
        let run = try berth(["audit", "export", "--database", path, "--format", "ndjson", "--actor", "alice", "--outcome", "denied"])
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.output.split(separator: "\n")
        #expect(lines.count == 5)  // even ids that are multiples of 3: 6, 12, 18, 24, 30
        #expect(lines.allSatisfy { $0.contains(#""actor":"alice""#) && $0.contains(#""outcome":"denied""#) })
        let file = directory.appendingPathComponent("out.csv").path
        let csv = try berth(["audit", "export", "--database", path, "--output", file])
        #expect(csv.status == 0)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 1 + 31)
        let exports = try await AppDatabase.open(path: path).recentAuditEvents().filter { $0.action == "audit.export" }
        #expect(exports.count == 2)
        #expect(exports.allSatisfy { $0.actor.hasPrefix("cli:") && $0.clientAddress == "cli" })
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)
        // An existing path is written in place, not replaced: a link still links (and /dev/null stays a device).
        let real = directory.appendingPathComponent("real.csv").path
        let link = directory.appendingPathComponent("link.csv").path
        FileManager.default.createFile(atPath: real, contents: Data("old".utf8), attributes: [.posixPermissions: 0o644])
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        let linked = try berth(["audit", "export", "--database", path, "--output", link])
        #expect(linked.status == 0, "\(linked.errors)")
        #expect((try FileManager.default.attributesOfItem(atPath: link)[.type] as? FileAttributeType) == .typeSymbolicLink)
        #expect(try String(contentsOfFile: real, encoding: .utf8).hasPrefix("id,"), "the export went through the link")
        #expect((try FileManager.default.attributesOfItem(atPath: real)[.posixPermissions] as? Int) == 0o600, "no more readable than a new export")
        let bad = try berth(["audit", "export", "--database", path, "--from", "last week"])
        #expect(bad.status != 0)
        #expect(bad.errors.contains("is not a time like"))
    }

    @Test func backupCopiesTheLiveDatabase() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try await seeded(directory)
        let copy = directory.appendingPathComponent("copy.sqlite").path
        let run = try berth(["db", "backup", "--database", path, copy])
        #expect(run.status == 0, "\(run.errors)")
        let verification = try await AppDatabase.open(path: copy).verifyAuditChain()
        #expect(verification.isIntact && verification.checkedRows == 30)
        let again = try berth(["db", "backup", "--database", path, copy])
        #expect(again.status != 0)
        #expect(again.errors.contains("the file exists"))
    }
}
