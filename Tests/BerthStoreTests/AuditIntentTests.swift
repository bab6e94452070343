@testable import BerthStore
import Foundation
import GRDB
import Testing
import TestSupport

/// Attempt first, outcome after: one row per action, and an attempt never lost.
@Suite struct AuditIntentTests {
    func openFresh() throws -> (AppDatabase, URL) {
        let directory = try Repository.temporaryDirectory()
        return (try AppDatabase.open(path: directory.appendingPathComponent("berth.sqlite").path), directory)
    }

    @Test func anAttemptIsCommittedBeforeAndSettledIntoExactlyOneRow() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        let attempt = AuditEvent(actor: "alice", action: "container.stop", targetId: "web-1", outcome: .error)
        let intent = try await database.beginAuditedAction(attempt, process: "this")
        #expect(try await database.pendingAuditIntents() == 1)
        #expect(try await database.recentAuditEvents().isEmpty, "no row before the outcome")
        var outcome = attempt
        outcome.outcome = .ok
        outcome.targetName = "web"
        let stored = try #require(try await database.settleAuditedAction(intent: intent, as: outcome))
        #expect(stored.id == 1 && stored.outcome == .ok && stored.targetName == "web")
        #expect(try await database.pendingAuditIntents() == 0)
        #expect(try await database.recentAuditEvents().count == 1)
        #expect(try await database.verifyAuditChain().isIntact)
    }

    @Test func anotherProcesssAttemptIsRecoveredOnceAndOurOwnWait() async throws {
        let (database, directory) = try openFresh()
        defer { try? FileManager.default.removeItem(at: directory) }
        let old = try await database.beginAuditedAction(
            AuditEvent(actor: "alice", action: "container.kill", targetId: "a", outcome: .error), process: "crashed"
        )
        _ = try await database.beginAuditedAction(AuditEvent(actor: "bob", action: "container.start", targetId: "b", outcome: .error), process: "this")
        #expect(try await database.recoverAuditIntents(leftBy: "this") == 1)
        let rows = try await database.recentAuditEvents()
        #expect(rows.map(\.actor) == ["alice"])
        #expect(rows.first?.outcome == .error)
        #expect(rows.first?.errorMessage?.hasPrefix("outcome not recorded: the action was sent to the engine at ") == true)
        // The owner of the recovered attempt comes back late: the row is there already, none is added.
        var late = AuditEvent(actor: "alice", action: "container.kill", targetId: "a", outcome: .ok)
        late.durationMs = 5
        #expect(try await database.settleAuditedAction(intent: old, as: late) == nil)
        #expect(try await database.recentAuditEvents().count == 1)
        // Our own running action's attempt stays.
        #expect(try await database.pendingAuditIntents() == 1)
        #expect(try await database.recoverAuditIntents(leftBy: "this") == 0)
        #expect(try await database.verifyAuditChain().isIntact)
    }
}
