@testable import BerthWeb
import BerthStore
import Foundation
import Hummingbird
import Logging
import NIOEmbedded
import Testing
import TestSupport

/// The chain head leaves the database at a set interval; retention runs from the server.
@Suite struct AuditMaintenanceTests {
    static func trail(_ database: AppDatabase, _ logger: Logger) -> AuditTrail {
        AuditTrail(database: database, logger: logger, metrics: BerthMetrics())
    }

    @Test func anAttemptLeftWithoutOutcomeBecomesARowSayingSoAndARunningOneIsLeftAlone() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("m.sqlite").path
        // What a server killed mid-action leaves: an attempt and no outcome.
        let crashed = try AppDatabase.open(path: path)
        _ = try await crashed.beginAuditedAction(
            AuditEvent(actor: "alice", action: "container.stop", targetId: "web-1", outcome: .error), process: "a process that was killed"
        )

        let database = try AppDatabase.open(path: path)
        var (logger, _) = CapturingLogHandler.logger()
        // What Hummingbird puts in every request's logger.
        logger[metadataKey: "hb.request.id"] = "1"
        let audit = Self.trail(database, logger)
        // An action of this server's own, still running while maintenance comes round.
        let context = BerthRequestContext(source: .init(channel: EmbeddedChannel(), logger: logger))
        let result = try await audit.act(.containerStart, context: context, targetId: "db-1") { _ in
            await audit.settleLeftovers()
            let rows = try await database.recentAuditEvents()
            #expect(rows.count == 1)
            let recovered = try #require(rows.first)
            #expect(recovered.action == "container.stop" && recovered.actor == "alice" && recovered.targetId == "web-1")
            #expect(recovered.outcome == .error)
            #expect(recovered.errorMessage?.hasPrefix("outcome not recorded") == true)
            #expect(try await database.pendingAuditIntents() == 1, "the running action's attempt stays")
        }
        guard case .done(_, recorded: true) = result else {
            Issue.record("the running action's row was not written")
            return
        }
        let all = try await database.recentAuditEvents()
        #expect(all.map(\.action) == ["container.start", "container.stop"])
        #expect(all.first?.outcome == .ok)
        #expect(try await database.pendingAuditIntents() == 0)
        #expect(try await database.verifyAuditChain().isIntact)
    }

    @Test func theNewestHashIsLoggedAtEachIntervalAndRetentionKeepsTheChainVerifiable() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("m.sqlite").path)
        for index in 1...5 {
            try await database.recordAudit(AuditEvent(actor: "alice", action: "container.start", targetId: "\(index)", outcome: .ok))
        }
        let (logger, logged) = CapturingLogHandler.logger()
        // A retention of one day removes nothing yet.
        let maintenance = AuditMaintenance(
            database: database, audit: Self.trail(database, logger), interval: .milliseconds(100), retentionDays: 1, logger: logger
        )
        let running = Task { try await maintenance.run() }
        defer { running.cancel() }
        // Waits (up to 30 s, however loaded the machine) until `count` head lines were logged.
        func headsLogged(atLeast count: Int) async throws -> [String] {
            for _ in 0..<600 where logged.values(of: "audit.hash").count < count {
                try await Task.sleep(for: .milliseconds(50))
            }
            return logged.values(of: "audit.hash")
        }
        let early = try await headsLogged(atLeast: 3)
        #expect(early.count >= 3, "logged at every interval")
        #expect(logged.values(of: "audit.id").first == "5")
        let headBefore = try #require(try await database.auditChainHead())
        #expect(Set(early) == [headBefore.hash], "the same head, logged again at each interval")

        try await database.recordAudit(AuditEvent(actor: "bob", action: "logout", outcome: .ok))
        let head = try #require(try await database.auditChainHead())
        for _ in 0..<600 where !logged.values(of: "audit.hash").contains(head.hash) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(logged.values(of: "audit.hash").contains(head.hash), "the new head reaches the log")
        #expect(logged.values(of: "audit.id").contains("6"))
        #expect(try await database.recentAuditEvents().count == 6)
        #expect(try await database.verifyAuditChain().isIntact)
    }
}

@Suite struct AuditRedactionTests {
    @Test func secretsNeverReachTheTrail() {
        let stored = AuditTrail.redacted([
            "password": "hunter2", "registryAuth": "eyJ1c2VyIjoiYSJ9", "apiToken": "t0k", "envKeys": "PATH,HOME",
            "options": "type=cifs,o=username=a,password=s3cret,vers=3", "labels": "a=b", "long": String(repeating: "x", count: 5000),
        ])
        #expect(stored["password"] == "[redacted]")
        #expect(stored["registryAuth"] == "[redacted]")
        #expect(stored["apiToken"] == "[redacted]")
        #expect(stored["envKeys"] == "PATH,HOME")
        #expect(stored["options"] == "type=cifs,o=username=a,password=[redacted],vers=3")
        #expect(stored["labels"] == "a=b")
        #expect(stored["long"]?.count == 1024 + "…[cut]".count)
    }
}
