import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// The one way the web app writes audit records: who (from the request context), what, on what, with what result.
struct AuditTrail: Sendable {
    let database: AppDatabase
    let engineAddress: String
    let logger: Logger
    /// Where the write latency goes.
    let metrics: BerthMetrics
    /// Attempts on record whose outcome row is not written yet.
    let intents = AuditIntents()

    /// Parameters as they may be stored: values of keys that name a secret are replaced, `password=…`-style pieces
    /// inside values are blanked, and every value is cut at 1 KiB.
    static let secretAssignment = "(?i)(pass(word)?|secret|token|apikey|api_key)=[^,;\\s&]*"

    static func redacted(_ parameters: [String: String]) -> [String: String] {
        let secretKey = ["pass", "secret", "token", "apikey", "api_key", "privatekey"]
        return parameters.reduce(into: [:]) { result, pair in
            let lowered = pair.key.lowercased()
            if secretKey.contains(where: { lowered.contains($0) }) || lowered.hasSuffix("auth") {
                result[pair.key] = "[redacted]"
                return
            }
            var value = pair.value
            // Most values hold no `=` at all: no regex for them.
            if value.contains("="), let pattern = try? Regex(secretAssignment) {
                value = value.replacing(pattern) { match in
                    let text = String(value[match.range])
                    return (text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "") + "=[redacted]"
                }
            }
            result[pair.key] = value.count > 1024 ? String(value.prefix(1024)) + "…[cut]" : value
        }
    }

    /// What the user reads when an action is refused because its record could not be written.
    static let unavailableMessage =
        "Nothing was done: the audit trail cannot be written right now (the database is locked or its disk is full). Ask an administrator."

    /// What the user reads after an action whose outcome row could not be written (its attempt is on record).
    static func unrecordedOutcome(_ message: String) -> String {
        "\(message) But its outcome could not be written to the audit trail (the attempt is on record and will be completed); tell an administrator."
    }

    /// The row as it will be stored: who from the request context, names and messages cut to a sane length, secrets
    /// in parameters redacted.
    func event(
        _ action: String, outcome: AuditEvent.Outcome, context: BerthRequestContext, actor: String? = nil,
        targetType: String? = nil, targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil,
        error: String? = nil, started: ContinuousClock.Instant? = nil
    ) -> AuditEvent {
        let parametersJSON = parameters.map(Self.redacted).flatMap { parameters -> String? in
            guard !parameters.isEmpty, let data = try? JSONSerialization.data(withJSONObject: parameters, options: [.sortedKeys]) else {
                return nil
            }
            return String(decoding: data, as: UTF8.self)
        }
        let duration = started.map { ContinuousClock.now - $0 }.map { Int($0 / .milliseconds(1)) }
        return AuditEvent(
            requestId: context.id,
            actor: String((actor ?? context.user?.username ?? context.shareViewer?.actor ?? "-").prefix(64)),
            role: context.user?.role.rawValue ?? (context.shareViewer == nil ? nil : "link"),
            clientAddress: context.client?.address,
            userAgent: context.userAgent.map { String($0.prefix(512)) },
            action: action,
            targetType: targetType,
            targetId: targetId.map { String($0.prefix(256)) },
            targetName: targetName.map { String($0.prefix(256)) },
            engine: engineAddress,
            parameters: parametersJSON,
            outcome: outcome,
            errorMessage: error.map { String($0.prefix(1024)) },
            durationMs: duration
        )
    }

    /// Writes a record of something that changed nothing (a refusal, a view of a secret, a sign-in). Actions that
    /// change something go through `begin`/`finish` (or `perform`). Returns whether it was written.
    @discardableResult
    func record(
        _ action: String, outcome: AuditEvent.Outcome, context: BerthRequestContext, actor: String? = nil,
        targetType: String? = nil, targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil,
        error: String? = nil, started: ContinuousClock.Instant? = nil
    ) async -> Bool {
        let event = event(
            action, outcome: outcome, context: context, actor: actor, targetType: targetType, targetId: targetId,
            targetName: targetName, parameters: parameters, error: error, started: started
        )
        return await write(action) { try await database.recordAudit(event) }
    }

    // MARK: - Actions: attempt first, outcome after

    /// An action whose attempt is durably on record; `finish` writes its one audit row.
    struct Attempt: Sendable {
        fileprivate let intent: Int64
        fileprivate let event: AuditEvent
        fileprivate let context: BerthRequestContext
        let started: ContinuousClock.Instant
    }

    /// Puts an action's attempt on record before it runs. Nil when that can't be written: the caller must refuse
    /// (`unavailableMessage`) and do nothing.
    func begin(
        _ action: String, context: BerthRequestContext, actor: String? = nil, targetType: String? = nil,
        targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil
    ) async -> Attempt? {
        let started = ContinuousClock.now
        if intents.hasUnsettled { await settleLeftovers() }
        let event = event(
            action, outcome: .error, context: context, actor: actor, targetType: targetType, targetId: targetId,
            targetName: targetName, parameters: parameters
        )
        do {
            let intent = try await database.beginAuditedAction(event, process: intents.process)
            intents.started(intent)
            return Attempt(intent: intent, event: event, context: context, started: started)
        } catch {
            logger.error("audit trail not writable: action refused", metadata: ["action": "\(action)", "error": "\(error)"])
            return nil
        }
    }

    /// Writes the action's one row: its outcome, duration and what it learned. Target and parameters given here
    /// replace the attempt's (an action learns a container's id and name as it goes). Returns whether the row was
    /// written; when not, the attempt stays on record and is settled later with this outcome. `context` and `actor`
    /// replace who acted when the action itself decided it (a share link admitted as its viewer).
    @discardableResult
    func finish(
        _ attempt: Attempt, outcome: AuditEvent.Outcome, context: BerthRequestContext? = nil, actor: String? = nil,
        targetType: String? = nil, targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil,
        error: String? = nil
    ) async -> Bool {
        let base = attempt.event
        var row = event(
            base.action, outcome: outcome, context: context ?? attempt.context, actor: actor ?? (context == nil ? base.actor : nil),
            targetType: targetType ?? base.targetType, targetId: targetId ?? base.targetId, targetName: targetName ?? base.targetName,
            parameters: parameters, error: error, started: attempt.started
        )
        if parameters == nil { row.parameters = base.parameters }
        // Written even when the request's task was cancelled (a page closed mid-action).
        let settled = await Task { [self, row] in await settle(attempt.intent, as: row) }.value
        if settled != .written {
            logger.critical("action done but its outcome not recorded", metadata: ["action": "\(base.action)", "actor": "\(base.actor)"])
        }
        return settled == .written
    }

    /// After an action was undone because its outcome row could not be written (a share link revoked, a link
    /// session dropped): the row still to be written says so instead of the success.
    func rolledBack(_ attempt: Attempt, reason: String) {
        var row = event(
            attempt.event.action, outcome: .error, context: attempt.context, actor: attempt.event.actor,
            targetType: attempt.event.targetType, targetId: attempt.event.targetId, targetName: attempt.event.targetName,
            error: "undone: \(reason)", started: attempt.started
        )
        row.parameters = attempt.event.parameters
        intents.replaceUnsettled(attempt.intent, with: row)
    }

    private enum Settled { case written, recoveredMeanwhile, failed }

    /// Writes an attempt's row (or keeps it to retry). A row already recovered as "outcome not recorded" is not written
    /// again: one row per action.
    private func settle(_ intent: Int64, as row: AuditEvent) async -> Settled {
        let writeStarted = ContinuousClock.now
        do {
            let stored = try await database.settleAuditedAction(intent: intent, as: row)
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: true)
            intents.settled(intent)
            return stored == nil ? .recoveredMeanwhile : .written
        } catch {
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: false)
            logger.error("cannot write audit record", metadata: ["action": "\(row.action)", "error": "\(error)"])
            intents.unsettled(intent, row)
            return .failed
        }
    }

    /// Settles what could not be settled before (its outcome known), and turns the attempts an earlier process left
    /// (a crash) into rows that say their outcome was not recorded. On each maintenance round, the first at start.
    func settleLeftovers() async {
        for (intent, row) in intents.takeUnsettled() {
            _ = await settle(intent, as: row)
        }
        do {
            let recovered = try await database.recoverAuditIntents(leftBy: intents.process)
            if recovered > 0 { logger.warning("audit attempts without an outcome were recorded as such", metadata: ["rows": "\(recovered)"]) }
        } catch {
            logger.error("cannot record attempts left without an outcome", metadata: ["error": "\(error)"])
        }
    }

    private func write(_ action: String, _ body: () async throws -> AuditEvent) async -> Bool {
        let writeStarted = ContinuousClock.now
        do {
            _ = try await body()
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: true)
            return true
        } catch {
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: false)
            logger.error("cannot write audit record", metadata: ["action": "\(action)", "error": "\(error)"])
            return false
        }
    }
}

/// The attempts this process owns: running (no outcome yet) or done with an outcome row still to write.
final class AuditIntents: Sendable {
    private let state = NIOLockedValueBox<[Int64: AuditEvent?]>([:])
    /// This process, as its intent rows name it: recovery takes only other processes' rows.
    let process = UUID().uuidString

    func started(_ intent: Int64) { state.withLockedValue { $0[intent] = .some(nil) } }
    func settled(_ intent: Int64) { state.withLockedValue { _ = $0.removeValue(forKey: intent) } }
    func unsettled(_ intent: Int64, _ row: AuditEvent) { state.withLockedValue { $0[intent] = .some(row) } }
    func replaceUnsettled(_ intent: Int64, with row: AuditEvent) {
        state.withLockedValue { state in
            if case .some(.some) = state[intent] { state[intent] = .some(row) }
        }
    }

    var hasUnsettled: Bool { state.withLockedValue { $0.values.contains { $0 != nil } } }

    /// The rows waiting to be written, left owned (so recovery skips them) until settled.
    func takeUnsettled() -> [(Int64, AuditEvent)] {
        state.withLockedValue { state in state.compactMap { key, value in value.map { (key, $0) } }.sorted { $0.0 < $1.0 } }
    }
}

extension AuditTrail {
    /// One audited change through the engine, the way every form action goes: refused when its record can't be
    /// written, the record written with the outcome either way, and a redirect with the message the user reads (the
    /// daemon's own words on failure).
    func perform(
        _ action: String, context: BerthRequestContext, targetType: String, targetId: String? = nil, targetName: String? = nil,
        parameters: [String: String]? = nil, back: String, backOnFailure: (@Sendable (EngineError) -> String)? = nil,
        _ work: () async throws -> String
    ) async -> Response {
        await perform(
            action, context: context, targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters,
            back: back, backOnFailure: backOnFailure
        ) { ActionDone(message: try await work()) }
    }

    /// What a successful action tells the user, and what it learned that belongs in its record (counts, space).
    struct ActionDone {
        var message: String
        var results: [String: String] = [:]
    }

    /// The same, for actions whose outcome adds to their record.
    func perform(
        _ action: String, context: BerthRequestContext, targetType: String, targetId: String? = nil, targetName: String? = nil,
        parameters: [String: String]? = nil, back: String, backOnFailure: (@Sendable (EngineError) -> String)? = nil,
        _ work: () async throws -> ActionDone
    ) async -> Response {
        guard let attempt = await begin(
            action, context: context, targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters
        ) else {
            return .redirect(to: back, flash: Flash(.error, Self.unavailableMessage))
        }
        do {
            let done = try await work()
            let recorded = done.results.isEmpty ? parameters : (parameters ?? [:]).merging(done.results) { $1 }
            guard await finish(attempt, outcome: .ok, parameters: recorded) else {
                return .redirect(to: back, flash: Flash(.error, Self.unrecordedOutcome(done.message)))
            }
            return .redirect(to: back, flash: Flash(.ok, done.message))
        } catch {
            let engineError = error as? EngineError
            let message = engineError?.description ?? (error as? InputError)?.message ?? "\(error)"
            await finish(attempt, outcome: .error, error: message)
            let destination = engineError.flatMap { backOnFailure?($0) } ?? back
            return .redirect(to: destination, flash: Flash(.error, message))
        }
    }

    /// A form that could not be used: recorded as a failed action, nothing sent to the engine.
    func refuseInput(
        _ action: String, context: BerthRequestContext, targetType: String, targetName: String? = nil,
        parameters: [String: String]? = nil, message: String, back: String
    ) async -> Response {
        await record(action, outcome: .error, context: context, targetType: targetType, targetName: targetName, parameters: parameters, error: message)
        return .redirect(to: back, flash: Flash(.error, message))
    }
}
