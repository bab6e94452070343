import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// The one way the web app writes audit records: who (from the request context), what, on what, with what result.
struct AuditTrail: Sendable {
    let database: AppDatabase
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
        _ action: AuditAction, outcome: AuditEvent.Outcome, origin: AuditOrigin, actor: String? = nil,
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
            requestId: origin.requestId,
            actor: String((actor ?? origin.actor).prefix(64)),
            role: origin.role,
            clientAddress: origin.clientAddress,
            userAgent: origin.userAgent.map { String($0.prefix(512)) },
            action: action.rawValue,
            targetType: targetType,
            targetId: targetId.map { String($0.prefix(256)) },
            targetName: targetName.map { String($0.prefix(256)) },
            engine: origin.engine,
            parameters: parametersJSON,
            outcome: outcome,
            errorMessage: error.map { String($0.prefix(1024)) },
            durationMs: duration
        )
    }

    /// Writes a record of something that changed nothing (a refusal, a view, a sign-in), under `action` or else the
    /// route's (`context.auditAction`). Actions that change something go through `act` (or `perform`). Returns whether
    /// it was written.
    @discardableResult
    func record(
        _ action: AuditAction? = nil, outcome: AuditEvent.Outcome, context: some AuditContext, actor: String? = nil,
        targetType: String? = nil, targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil,
        error: String? = nil, started: ContinuousClock.Instant? = nil
    ) async -> Bool {
        let action = Self.action(action, of: context)
        let event = event(
            action, outcome: outcome, origin: context.auditOrigin, actor: actor, targetType: targetType, targetId: targetId,
            targetName: targetName, parameters: parameters, error: error, started: started
        )
        return await write(action) { try await database.recordAudit(event) }
    }

    /// The same, for what may be shown only once it is on record (a secret, a stream, an export): throws 503 when the
    /// record can't be written.
    func recordBeforeShowing(
        _ action: AuditAction? = nil, context: some AuditContext, actor: String? = nil, targetType: String? = nil,
        targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil
    ) async throws {
        guard await record(
            action, outcome: .ok, context: context, actor: actor, targetType: targetType, targetId: targetId, targetName: targetName,
            parameters: parameters
        ) else {
            throw HTTPError(.serviceUnavailable, message: Self.unavailableMessage)
        }
    }

    /// The action named, or the one the route declared.
    static func action(_ named: AuditAction?, of context: some AuditContext) -> AuditAction {
        if let action = named ?? context.declaredAuditAction { return action }
        assertionFailure("a handler audits on a route that declares no audit action")
        return .accessUndeclaredRoute
    }

    // MARK: - Actions: attempt first, outcome after

    /// What an action puts in its one row as it goes: the target it learns (a container's id and name), what it found
    /// out (counts, an image id), and how it ended. Starts as the attempt was recorded, with the outcome `ok`.
    struct ActionRecord: Sendable {
        var targetType: String?
        var targetId: String?
        var targetName: String?
        var parameters: [String: String]?
        var outcome: AuditEvent.Outcome = .ok
        var error: String?
        /// Who acted, when the action itself decided it (a share link admitted as its viewer).
        var actor: String?
        var origin: AuditOrigin?

        mutating func fail(_ message: String) {
            outcome = .error
            error = message
        }

        mutating func deny(_ reason: String) {
            outcome = .denied
            error = reason
        }

        mutating func add(_ results: [String: String]) {
            guard !results.isEmpty else { return }
            parameters = (parameters ?? [:]).merging(results) { $1 }
        }
    }

    /// How an audited action went for the one who asked.
    enum Audited<Value> {
        /// Nothing was done: the action's record could not be written (`unavailableMessage`).
        case refused
        /// It ran; `recorded` tells whether its row is written (if not, the attempt is on record and is settled later:
        /// tell the user with `unrecordedOutcome`).
        case done(Value, recorded: Bool)
    }

    /// What an action's work ends with: an answer that says how it failed (told whether or not its row is written), or
    /// what it did, for an answer told once the row is written.
    enum Ending<Value> {
        case answered(Response)
        case succeeded(Value)
    }

    /// The one way an action that changes something runs: its attempt is put on record first (refused, doing nothing,
    /// when that can't be written), `work` acts and writes into its record what it learns and how it ended, and
    /// exactly one row is written with outcome and duration — also when `work` throws (recorded as an error with the
    /// error's words, then rethrown). `action` defaults to the route's. `undo` takes back a success whose row could
    /// not be written (a share link nobody may use unrecorded), and the action counts as refused.
    func act<Value>(
        _ action: AuditAction? = nil, context: some AuditContext, actor: String? = nil, targetType: String? = nil,
        targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil,
        undo: ((Value) async -> String)? = nil,
        _ work: (inout ActionRecord) async throws -> Value
    ) async throws -> Audited<Value> {
        let action = Self.action(action, of: context)
        guard let attempt = await begin(
            action, origin: context.auditOrigin, actor: actor, targetType: targetType, targetId: targetId, targetName: targetName,
            parameters: parameters
        ) else {
            return .refused
        }
        var record = ActionRecord(targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters)
        let value: Value
        do {
            value = try await work(&record)
        } catch {
            if record.outcome == .ok || record.error == nil { record.fail(Self.message(for: error)) }
            _ = await finish(attempt, record)
            throw error
        }
        let recorded = await finish(attempt, record)
        if !recorded, record.outcome == .ok, let undo {
            rolledBack(attempt, reason: await undo(value))
            return .refused
        }
        return .done(value, recorded: recorded)
    }

    /// What a person reads of an error that ended an action: the daemon's own words, or the input's problem.
    static func message(for error: any Error) -> String {
        (error as? EngineError)?.description ?? (error as? InputError)?.message ?? (error as? ActionFailure)?.message ?? "\(error)"
    }

    /// Ends an action from inside `act` with the words its row and the user get.
    struct ActionFailure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// An action whose attempt is durably on record; `finish` writes its one audit row.
    private struct Attempt: Sendable {
        let action: AuditAction
        let intent: Int64
        let event: AuditEvent
        let origin: AuditOrigin
        let started: ContinuousClock.Instant
    }

    /// Puts an action's attempt on record before it runs. Nil when that can't be written: nothing may be done.
    private func begin(
        _ action: AuditAction, origin: AuditOrigin, actor: String?, targetType: String?,
        targetId: String?, targetName: String?, parameters: [String: String]?
    ) async -> Attempt? {
        let started = ContinuousClock.now
        if intents.hasUnsettled { await settleLeftovers() }
        let event = event(
            action, outcome: .error, origin: origin, actor: actor, targetType: targetType, targetId: targetId,
            targetName: targetName, parameters: parameters
        )
        do {
            let intent = try await database.beginAuditedAction(event, process: intents.process)
            intents.started(intent)
            return Attempt(action: action, intent: intent, event: event, origin: origin, started: started)
        } catch {
            logger.error("audit trail not writable: action refused", metadata: ["action": "\(action.rawValue)", "error": "\(error)"])
            return nil
        }
    }

    /// Writes the action's one row from its record. Returns whether it was written; when not, the attempt stays on
    /// record and is settled later with this outcome.
    private func finish(_ attempt: Attempt, _ record: ActionRecord) async -> Bool {
        let base = attempt.event
        let row = event(
            attempt.action, outcome: record.outcome,
            origin: record.origin ?? attempt.origin, actor: record.actor ?? (record.origin == nil ? base.actor : nil),
            targetType: record.targetType, targetId: record.targetId, targetName: record.targetName,
            parameters: record.parameters, error: record.error, started: attempt.started
        )
        // Written even when the request's task was cancelled (a page closed mid-action).
        let settled = await Task { [self, row] in await settle(attempt.intent, as: row) }.value
        if settled != .written {
            logger.critical("action done but its outcome not recorded", metadata: ["action": "\(base.action)", "actor": "\(base.actor)"])
        }
        return settled == .written
    }

    /// After an action was undone because its outcome row could not be written: the row still to be written says so
    /// instead of the success.
    private func rolledBack(_ attempt: Attempt, reason: String) {
        var row = attempt.event
        row.outcome = .error
        row.errorMessage = String("undone: \(reason)".prefix(1024))
        row.durationMs = Int((ContinuousClock.now - attempt.started) / .milliseconds(1))
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

    private func write(_ action: AuditAction, _ body: () async throws -> AuditEvent) async -> Bool {
        let writeStarted = ContinuousClock.now
        do {
            _ = try await body()
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: true)
            return true
        } catch {
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: false)
            logger.error("cannot write audit record", metadata: ["action": "\(action.rawValue)", "error": "\(error)"])
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
    /// What a successful form action tells the user, and what it learned that belongs in its record (counts, space).
    struct ActionDone {
        var message: String
        var results: [String: String] = [:]
    }

    /// A form action through `act` that answers with a redirect to `back` and the message the user reads: refused when
    /// its record can't be written; on failure the daemon's own words (and `backOnFailure`'s page, if it names one).
    func perform(
        _ action: AuditAction? = nil, context: some AuditContext, targetType: String, targetId: String? = nil,
        targetName: String? = nil, parameters: [String: String]? = nil, back: String,
        backOnFailure: (@Sendable (EngineError) -> String)? = nil, _ work: () async throws -> String
    ) async -> Response {
        await perform(
            action, context: context, targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters,
            back: back, backOnFailure: backOnFailure
        ) { ActionDone(message: try await work()) }
    }

    /// The same, for actions whose outcome adds to their record.
    func perform(
        _ action: AuditAction? = nil, context: some AuditContext, targetType: String, targetId: String? = nil,
        targetName: String? = nil, parameters: [String: String]? = nil, back: String,
        backOnFailure: (@Sendable (EngineError) -> String)? = nil, _ work: () async throws -> ActionDone
    ) async -> Response {
        do {
            let result = try await act(
                action, context: context, targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters
            ) { record in
                let done = try await work()
                record.add(done.results)
                return done.message
            }
            return .redirect(to: back, flash: Self.flash(result))
        } catch {
            let destination = (error as? EngineError).flatMap { backOnFailure?($0) } ?? back
            return .redirect(to: destination, flash: Flash(.error, Self.message(for: error)))
        }
    }

    /// What the user reads after an action whose value is its success message.
    static func flash(_ result: Audited<String>) -> Flash {
        switch result {
        case .refused: Flash(.error, unavailableMessage)
        case .done(let message, recorded: true): Flash(.ok, message)
        case .done(let message, recorded: false): Flash(.error, unrecordedOutcome(message))
        }
    }

    /// A form that could not be used: recorded as a failed action (nothing sent to the engine), and a redirect to
    /// `back` with the message.
    func refuseInput(
        _ action: AuditAction? = nil, context: some AuditContext, targetType: String, targetId: String? = nil,
        targetName: String? = nil, parameters: [String: String]? = nil, message: String, back: String
    ) async -> Response {
        let answer = Response.redirect(to: back, flash: Flash(.error, message))
        return (try? await refuseInput(
            action, context: context, targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters,
            message: message
        ) { answer }) ?? answer
    }

    /// The same, answered by `answer` (the form again, its problems named). Nothing was done either way, so the answer
    /// is the same when the trail can't be written.
    func refuseInput(
        _ action: AuditAction? = nil, context: some AuditContext, targetType: String, targetId: String? = nil,
        targetName: String? = nil, parameters: [String: String]? = nil, message: String,
        answer: () async throws -> Response
    ) async throws -> Response {
        let result = try await act(
            action, context: context, targetType: targetType, targetId: targetId, targetName: targetName, parameters: parameters
        ) { record in
            record.fail(message)
            return try await answer()
        }
        switch result {
        case .done(let response, _): return response
        case .refused: return try await answer()
        }
    }
}

/// Who acted and from where, as an audit row records it: a request's (the signed-in user or a share link, the client's
/// address and agent), or Berth's own for work nobody asked for just then (a scheduled check).
struct AuditOrigin: Sendable {
    var requestId: String?
    var actor: String
    var role: String?
    var clientAddress: String?
    var userAgent: String?
    /// The engine acted on, by name; nil for what belongs to no engine (settings, dashboards, the audit trail).
    var engine: String?

    init(_ context: BerthRequestContext) {
        requestId = context.id
        actor = context.user?.username ?? context.shareViewer?.actor ?? "-"
        role = context.user?.role.rawValue ?? (context.shareViewer == nil ? nil : "link")
        clientAddress = context.client?.address
        userAgent = context.userAgent
        engine = context.scopedEngine?.name
    }

    /// Berth itself, doing `what` on its own schedule, on `engine`.
    static func berth(_ what: String, engine: String?) -> AuditOrigin {
        AuditOrigin(requestId: nil, actor: "berth (\(what))", role: nil, clientAddress: nil, userAgent: nil, engine: engine)
    }

    private init(requestId: String?, actor: String, role: String?, clientAddress: String?, userAgent: String?, engine: String?) {
        self.engine = engine
        self.requestId = requestId
        self.actor = actor
        self.role = role
        self.clientAddress = clientAddress
        self.userAgent = userAgent
    }
}

/// What the audit trail takes of whoever acts: a request's context, or an origin of Berth's own.
protocol AuditContext: Sendable {
    var auditOrigin: AuditOrigin { get }
    /// The action the matched route declared, if any.
    var declaredAuditAction: AuditAction? { get }
}

extension AuditOrigin: AuditContext {
    var auditOrigin: AuditOrigin { self }
    var declaredAuditAction: AuditAction? { nil }
}

extension BerthRequestContext: AuditContext {
    var auditOrigin: AuditOrigin { AuditOrigin(self) }
    var declaredAuditAction: AuditAction? { auditAction }
}

extension SignedInContext: AuditContext {
    var auditOrigin: AuditOrigin { AuditOrigin(base) }
    var declaredAuditAction: AuditAction? { base.auditAction }
}
