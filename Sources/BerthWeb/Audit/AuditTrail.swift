import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging

/// The one way the web app writes audit records: who (from the request context), what, on what, with what result.
struct AuditTrail: Sendable {
    let database: AppDatabase
    let engineAddress: String
    let logger: Logger
    /// Where the write latency goes.
    let metrics: BerthMetrics

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

    /// Whether a record could be written now; actions that must be audited fail closed when it can't.
    func isWritable() async -> Bool {
        do {
            try await database.checkWritable()
            return true
        } catch {
            logger.error("audit trail not writable", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Writes a record. Names and messages are stored as data, cut to a sane length. Returns whether it was written.
    @discardableResult
    func record(
        _ action: String, outcome: AuditEvent.Outcome, context: BerthRequestContext, actor: String? = nil,
        targetType: String? = nil, targetId: String? = nil, targetName: String? = nil, parameters: [String: String]? = nil,
        error: String? = nil, started: ContinuousClock.Instant? = nil
    ) async -> Bool {
        let parametersJSON = parameters.map(Self.redacted).flatMap { parameters -> String? in
            guard !parameters.isEmpty, let data = try? JSONSerialization.data(withJSONObject: parameters, options: [.sortedKeys]) else {
                return nil
            }
            return String(decoding: data, as: UTF8.self)
        }
        let duration = started.map { ContinuousClock.now - $0 }.map { Int($0 / .milliseconds(1)) }
        let event = AuditEvent(
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
        let writeStarted = ContinuousClock.now
        do {
            try await database.recordAudit(event)
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: true)
            return true
        } catch {
            metrics.recordAuditWrite(ContinuousClock.now - writeStarted, written: false)
            logger.error("cannot write audit record", metadata: ["action": "\(action)", "error": "\(error)"])
            return false
        }
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
        let started = ContinuousClock.now
        guard await isWritable() else { return .redirect(to: back, flash: Flash(.error, Self.unavailableMessage)) }
        do {
            let done = try await work()
            let message = done.message
            let recorded = done.results.isEmpty ? parameters : (parameters ?? [:]).merging(done.results) { $1 }
            guard await record(
                action, outcome: .ok, context: context, targetType: targetType, targetId: targetId, targetName: targetName,
                parameters: recorded, started: started
            ) else {
                // The probe passed, the record after the action did not (the disk filled meanwhile): say so loudly.
                logger.critical("action done but not audited", metadata: ["action": "\(action)", "actor": "\(context.user?.username ?? "-")"])
                return .redirect(to: back, flash: Flash(.error, "\(message) But its audit record could not be written; tell an administrator."))
            }
            return .redirect(to: back, flash: Flash(.ok, message))
        } catch {
            let engineError = error as? EngineError
            let message = engineError?.description ?? "\(error)"
            await record(
                action, outcome: .error, context: context, targetType: targetType, targetId: targetId, targetName: targetName,
                parameters: parameters, error: message, started: started
            )
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
