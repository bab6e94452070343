import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging

/// A container's page, and everything that can be done to one or several containers.
struct ContainerActionsController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer
    let updates: UpdateMarks
    let jobs: JobBoard

    /// Actions on one container, each with the permission it needs.
    enum Action: String, CaseIterable, Sendable {
        case start, stop, restart, kill, pause, unpause, rename, remove

        var permission: Permission {
            switch self {
            case .start, .stop, .restart, .kill, .pause, .unpause: .operateContainers
            case .rename, .remove: .administer
            }
        }

        var auditAction: AuditAction {
            switch self {
            case .start: .containerStart
            case .stop: .containerStop
            case .restart: .containerRestart
            case .kill: .containerKill
            case .pause: .containerPause
            case .unpause: .containerUnpause
            case .rename: .containerRename
            case .remove: .containerRemove
            }
        }

        /// Past tense for the result message.
        var done: String {
            switch self {
            case .start: "Started"
            case .stop: "Stopped"
            case .restart: "Restarted"
            case .kill: "Killed"
            case .pause: "Paused"
            case .unpause: "Unpaused"
            case .rename: "Renamed"
            case .remove: "Removed"
            }
        }
    }

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/containers/{id}", .viewContainers, use: show)
        routes.get("/containers/{id}/inspect", .administer, audit: .containerInspect, use: rawInspect)
        for action in Action.allCases {
            routes.post("/containers/{id}/\(action.rawValue)", action.permission, audit: action.auditAction) { (request, context: SignedInContext) in
                try await act(action, request: request, context: context)
            }
        }
        routes.post("/containers/bulk", .operateContainers, audit: .containerBulk, use: bulk)
        routes.post("/containers/{id}/commit", .administer, audit: .containerCommit, use: commit)
    }

    /// `POST /containers/{id}/commit`: a new image from the container; the author defaults to the signed-in user.
    @Sendable func commit(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let form = context.form
        let page = context.link("/containers/\(EngineClientPath.escape(id))")
        func field(_ key: String) -> String? {
            let value = (form[key] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? nil : value
        }
        var labels: [String: String] = [:]
        for line in form.lines("labels") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard !parts[0].trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            labels[parts[0].trimmingCharacters(in: .whitespaces)] = parts.count > 1 ? String(parts[1]) : ""
        }
        let options = CommitOptions(
            repository: field("repository"), tag: field("tag"), message: field("message"),
            author: field("author") ?? context.user.username, pause: form.isChecked("pause"), labels: labels
        )
        var parameters: [String: String] = ["pause": options.pause ? "1" : "0"]
        parameters["repository"] = options.repository
        parameters["tag"] = options.tag
        parameters["message"] = options.message
        parameters["author"] = options.author
        if !labels.isEmpty { parameters["labels"] = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
        let inspect: ContainerInspect
        do {
            inspect = try await engine.inspectContainer(id)
        } catch let error as EngineError {
            return await audit.refuseInput(
                context: context, targetType: "container", targetId: id, parameters: parameters, message: Self.describe(error, name: id),
                back: error.kind == .notFound ? context.link("/containers?all=1") : page
            )
        }
        let reference = options.repository.map { "\($0):\(options.tag ?? "latest")" }
        let started = await jobs.start(
            .containerCommit, title: "Commit \(inspect.displayName)" + (reference.map { " as \($0)" } ?? ""), context: context,
            owner: context.user.username, targetType: "container", targetName: reference, parameters: parameters
        ) { job, record in
            record.targetId = inspect.id
            record.targetName = inspect.displayName
            job.report(summary: "The engine writes the container's changes into a new image…")
            do {
                let result = try await engine.commitContainer(inspect.id, options: options)
                record.add(["image": result.id])
                job.log("image \(result.id)")
                return "Committed \(inspect.displayName) as \(reference ?? "an untagged image") (\(result.id))."
            } catch let error as EngineError {
                throw AuditTrail.ActionFailure(Self.describe(error, name: inspect.displayName))
            }
        }
        return started.answer(back: page)
    }

    // MARK: - Pages

    /// `GET /containers/{id}[?env=show]`: the inspect summary; env values only for admins who ask (audited).
    @Sendable func show(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let isAdmin = context.isAdmin
        let reveal = isAdmin && request.uri.queryParameters["env"] == "show"
        do {
            let inspect = try await engine.inspectContainer(id)
            // A secret is shown only once its viewing is on record.
            if reveal {
                try await audit.recordBeforeShowing(
                    .containerEnvironmentView, context: context, targetType: "container", targetId: inspect.id,
                    targetName: inspect.displayName
                )
            }
            var page = ContainerDetailPage(inspect, revealEnvironment: reveal, canRevealEnvironment: isAdmin, preferences: context.preferences)
            // Update checks look at `local`'s images only.
            if try context.engine.isLocal {
                page.update = updates.finding(reference: inspect.config?.image, imageId: inspect.image).map(ContainerDetailPage.UpdateState.init)
            }
            return try views.page("container", page, context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: EngineError.missingContainer(id))
        }
    }

    /// `GET /containers/{id}/inspect`: the engine's whole answer, for admins.
    @Sendable func rawInspect(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        do {
            let json = try await engine.inspectContainerRaw(id)
            try await audit.recordBeforeShowing(context: context, targetType: "container", targetId: id)
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: .init(string: json))
            )
        } catch let error as EngineError {
            throw error.pageError(missing: EngineError.missingContainer(id))
        }
    }

    // MARK: - Actions

    /// `POST /containers/{id}/ACTION`: does it, audits it, and goes back with the result in a banner.
    func act(_ action: Action, request: Request, context: SignedInContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let form = context.form
        let page = context.link("/containers/\(EngineClientPath.escape(id))")
        let result = await perform(action, on: id, form: form, context: context)
        if result.ok {
            let next = action == .remove ? context.link("/containers?all=1") : context.link("/containers/\(EngineClientPath.escape(result.newName ?? id))")
            return .redirect(to: next, flash: Flash(.ok, result.message))
        }
        return .redirect(to: result.gone ? context.link("/containers?all=1") : page, flash: Flash(.error, result.message))
    }

    struct Outcome: Sendable {
        var ok: Bool
        var message: String
        /// The container does not exist (any more).
        var gone = false
        var newName: String? = nil
        var name: String
        var id: String
    }

    /// Performs one action on one container and writes its audit record; never throws, so bulk actions go on.
    func perform(_ action: Action, on idOrName: String, form: FormFields, context: SignedInContext) async -> Outcome {
        guard let engine = try? context.engine.client else {
            return Outcome(ok: false, message: "This page belongs to no engine.", name: idOrName, id: idOrName)
        }
        let result = try? await audit.act(action.auditAction, context: context, targetType: "container", targetId: idOrName) { record in
            var outcome = Outcome(ok: true, message: "", name: idOrName, id: idOrName)
            do {
                outcome.message = try await run(action, on: idOrName, engine: engine, form: form, outcome: &outcome, record: &record)
            } catch let error as EngineError {
                outcome.ok = false
                outcome.message = Self.describe(error, name: outcome.name)
                outcome.gone = error.kind == .notFound
            } catch let error as InputError {
                outcome.ok = false
                outcome.message = error.message
            } catch {
                context.logger.error("container action failed", metadata: ["action": "\(action)", "error": "\(error)"])
                outcome.ok = false
                outcome.message = "\(action.rawValue) failed."
            }
            if !outcome.ok { record.fail(outcome.message) }
            return outcome
        }
        switch result {
        case .done(var outcome, let recorded):
            // A success is told only once its row is written.
            if outcome.ok && !recorded {
                outcome.ok = false
                outcome.message = AuditTrail.unrecordedOutcome(outcome.message)
            }
            return outcome
        case .refused, nil:
            return Outcome(ok: false, message: AuditTrail.unavailableMessage, name: idOrName, id: idOrName)
        }
    }

    /// The engine calls of one action; returns what the user reads. What it learns goes into `outcome` and `record`.
    private func run(
        _ action: Action, on idOrName: String, engine: EngineClient, form: FormFields, outcome: inout Outcome,
        record: inout AuditTrail.ActionRecord
    ) async throws -> String {
        // One inspect for the audit's name and id: the target may be given by either.
        let inspect = try await engine.inspectContainer(idOrName)
        let id = inspect.id
        let name = inspect.displayName
        outcome.id = id
        outcome.name = name
        record.targetId = id
        record.targetName = name
        var parameters: [String: String] = [:]
        defer { record.parameters = parameters }
        switch action {
        case .start:
            if try await engine.startContainer(id) == .alreadyInState { return "\(name) was already running." }
        case .stop:
            let timeout = try form["timeout"].flatMap { $0.isEmpty ? nil : $0 }.map { try Self.seconds($0) }
            if let timeout { parameters["timeout"] = String(timeout) }
            if try await engine.stopContainer(id, timeout: timeout) == .alreadyInState { return "\(name) was already stopped." }
        case .restart:
            let timeout = try form["timeout"].flatMap { $0.isEmpty ? nil : $0 }.map { try Self.seconds($0) }
            if let timeout { parameters["timeout"] = String(timeout) }
            try await engine.restartContainer(id, timeout: timeout)
        case .kill:
            let signal = try Self.signal(form["signal"])
            if let signal { parameters["signal"] = signal }
            try await engine.killContainer(id, signal: signal)
        case .pause:
            try await engine.pauseContainer(id)
        case .unpause:
            try await engine.unpauseContainer(id)
        case .rename:
            let requested = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
            guard !requested.isEmpty else { throw InputError("Give the new name.") }
            guard NameRules.isValidObjectName(requested) else { throw InputError(NameRules.objectNameRule) }
            parameters["name"] = requested
            try await engine.renameContainer(id, to: requested)
            outcome.newName = requested
            return "\(action.done) \(name) to \(requested)."
        case .remove:
            let force = form.isChecked("force")
            let volumes = form.isChecked("volumes")
            parameters["force"] = force ? "1" : "0"
            parameters["volumes"] = volumes ? "1" : "0"
            try await engine.removeContainer(id, force: force, removeVolumes: volumes)
        }
        return "\(action.done) \(name)."
    }

    /// The daemon's message, worded for a person.
    static func describe(_ error: EngineError, name: String) -> String {
        switch error.kind {
        case .notFound: return EngineError.missingContainer(name)
        default: return error.description
        }
    }

    // MARK: - Bulk

    /// `POST /containers/bulk`: one action on the selected containers (`id` fields), or `action=stop-all` for every
    /// running container. Each container's result is reported on its own.
    @Sendable func bulk(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let form = context.form
        let requested = form["action"] ?? ""
        var ids = form.values("id").filter { !$0.isEmpty }
        let action: Action
        if requested == "stop-all" {
            // Every running container, or every one the list's filters show.
            action = .stop
            let filters = ContainerFilters(
                label: form["label"].flatMap { $0.isEmpty ? nil : [$0] } ?? [],
                name: form["name"].flatMap { $0.isEmpty ? nil : [$0] } ?? [],
                ancestor: form["image"].flatMap { $0.isEmpty ? nil : [$0] } ?? []
            )
            do {
                ids = try await engine.listContainers(all: false, filters: filters).map(\.id)
            } catch let error as EngineError {
                return .redirect(to: context.link("/containers"), flash: Flash(.error, error.description))
            }
        } else if let chosen = Action(rawValue: requested), chosen != .rename {
            action = chosen
        } else {
            return .redirect(to: context.link("/containers"), flash: Flash(.error, "Choose an action."))
        }
        guard ids.count <= Self.maxBulk else {
            await audit.record(
                action.auditAction, outcome: .error, context: context, targetType: "container", parameters: Self.summary(of: ids),
                error: "\(ids.count) containers at once; at most \(Self.maxBulk)"
            )
            let message = requested == "stop-all"
                ? "\(ids.count) running containers match; at most \(Self.maxBulk) are stopped at once. Narrow the filters. Nothing was done."
                : "Select at most \(Self.maxBulk) containers at once. Nothing was done."
            return .redirect(to: context.link("/containers"), flash: Flash(.error, message))
        }
        guard let minimumRole = action.permission.minimumRole, context.user.role >= minimumRole else {
            // One row for the whole request, however many it named.
            await audit.record(
                action.auditAction, outcome: .denied, context: context, targetType: "container", targetId: ids.count == 1 ? ids[0] : nil,
                parameters: Self.summary(of: ids), error: "role \(context.user.role.rawValue) lacks \(action.permission.name)"
            )
            throw HTTPError(.forbidden, message: "Your role (\(context.user.role.rawValue)) may not \(action.rawValue) containers.")
        }
        guard !ids.isEmpty else {
            return .redirect(to: context.link("/containers"), flash: Flash(.ok, requested == "stop-all" ? "No container was running." : "Select containers first."))
        }
        // Ids no container has are reported, and recorded in one row: made-up ids cost no engine call and no row each.
        var unknown: [String] = []
        if requested != "stop-all" {
            let known: [ContainerSummary]
            do {
                known = try await engine.listContainers(all: true)
            } catch let error as EngineError {
                return .redirect(to: context.link("/containers"), flash: Flash(.error, error.description))
            }
            let named = ids
            // By set, not by scanning the list for each: a thousand ids against thousands of containers.
            let names = Set(known.map(\.name))
            let fullIds = Set(known.map(\.id))
            let shortIds = Set(known.map { $0.id.prefix(12) })
            unknown = named.filter { id in
                !(fullIds.contains(id) || names.contains(id) || (id.count >= 12 && shortIds.contains(id.prefix(12))
                    && known.contains { $0.id.hasPrefix(id) }))
            }
            if !unknown.isEmpty {
                let missing = Set(unknown)
                ids = named.filter { !missing.contains($0) }
                await audit.record(
                    action.auditAction, outcome: .error, context: context, targetType: "container",
                    targetId: unknown.count == 1 ? unknown[0] : nil, parameters: Self.summary(of: unknown), error: "no such container"
                )
            }
        }
        // A few at a time: stopping waits for each container's processes.
        let outcomes = await withTaskGroup(of: (Int, Outcome).self) { group in
            var results: [(Int, Outcome)] = []
            var next = 0
            func addNext() {
                guard next < ids.count else { return }
                let index = next
                let id = ids[index]
                next += 1
                group.addTask { (index, await perform(action, on: id, form: form, context: context)) }
            }
            for _ in 0..<min(8, ids.count) { addNext() }
            while let result = await group.next() {
                results.append(result)
                addNext()
            }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var rows = outcomes.map { ActionResultRow(name: $0.name, id: $0.id, ok: $0.ok, message: $0.message) }
        for id in unknown.prefix(20) {
            rows.append(ActionResultRow(name: id, id: id, ok: false, message: EngineError.missingContainer(id)))
        }
        if unknown.count > 20 {
            rows.append(ActionResultRow(name: "…", id: "", ok: false, message: "\(unknown.count - 20) more ids that no container has."))
        }
        let page = BulkResultPage(
            title: "\(action.done): results", rows: rows, okCount: outcomes.filter(\.ok).count,
            failedCount: outcomes.filter { !$0.ok }.count + unknown.count
        )
        return try views.page("bulk-result", page, context: context, status: page.failedCount == 0 ? .ok : .init(code: 207, reasonPhrase: "Multi-Status"))
    }

    // MARK: - Input

    /// The most containers one bulk request may name.
    static let maxBulk = 1000

    /// A list of ids as one audit row keeps it: how many, and the first few.
    static func summary(of ids: [String]) -> [String: String] {
        ["count": String(ids.count), "ids": ids.prefix(10).map { String($0.prefix(64)) }.joined(separator: ",")]
    }

    static func seconds(_ text: String) throws -> Int {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (0...3600).contains(value) else {
            throw InputError("The timeout must be a number of seconds from 0 to 3600.")
        }
        return value
    }

    /// `SIGTERM`, `TERM`, `HUP` or a number; nil for the engine's default (SIGKILL).
    static func signal(_ text: String?) throws -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let number = Int(text), (1...64).contains(number) { return text }
        let upper = text.uppercased()
        let name = upper.hasPrefix("SIG") ? upper : "SIG" + upper
        guard name.count <= 12, name.dropFirst(3).allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-") }) else {
            throw InputError("Unknown signal '\(text.prefix(20))'.")
        }
        return name
    }
}
