import BerthStore
import Foundation
import Logging
import ServiceLifecycle

/// Keeps the audit trail honest while the server runs: writes the newest hash to the server log at a set interval
/// (so that a rewritten database can be caught against the log), applies retention, and writes the outcome rows
/// that could not be written when their action ended.
struct AuditMaintenance: Service {
    let database: AppDatabase
    /// Its outcome rows still to write, and attempts a crash left without one.
    let audit: AuditTrail
    let interval: Duration
    let retentionDays: Int?
    let logger: Logger

    func run() async throws {
        // Shutdown cancels the sleep; the loop has nothing to finish.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await audit.settleLeftovers()
                await applyRetention()
                await logHead()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Writes the newest row's id and hash to the server log.
    func logHead() async {
        do {
            guard let head = try await database.auditChainHead() else { return }
            logger.notice("audit chain head", metadata: ["audit.id": "\(head.id)", "audit.hash": "\(head.hash)"])
        } catch is CancellationError {
            // The server is stopping before its first look: nothing is wrong with the chain.
        } catch {
            logger.error("cannot read the audit chain head", metadata: ["error": "\(error)"])
        }
    }

    func applyRetention() async {
        guard let retentionDays else { return }
        let cutoff = Date().addingTimeInterval(-Double(retentionDays) * 86_400)
        do {
            let removed = try await database.applyAuditRetention(olderThan: cutoff)
            if removed > 0 {
                logger.notice("audit retention removed old rows", metadata: ["rows": "\(removed)", "days": "\(retentionDays)"])
            }
        } catch {
            logger.error("audit retention failed", metadata: ["error": "\(error)"])
        }
    }
}
