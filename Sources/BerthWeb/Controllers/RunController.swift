import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Running a container from the browser: in the foreground (wait and show its output) or detached.
struct RunController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer
    /// How long a foreground run is waited for before the page says it is still running.
    let foregroundWait: TimeAmount

    /// Output shown on the result page, per stream; more is cut with a note.
    static let outputLimit = 1024 * 1024

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/containers/new", .operateContainers, use: showForm)
        routes.post("/containers/run", .operateContainers, audit: .containerRun, use: run)
    }

    @Sendable func showForm(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let image = request.uri.queryParameters["image"].map(String.init) ?? ""
        return try views.page("run", RunPage(values: .init(image: image), message: nil, isAdmin: context.isAdmin), context: context)
    }

    /// `POST /containers/run`: one audited action from the form to its end — the form again with the problem (bad
    /// input, options only admins may use, an image the engine lacks), the new container's page, or a foreground
    /// run's output.
    @Sendable func run(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let fields = context.form
        let isAdmin = context.isAdmin
        func again(_ message: String, status: HTTPResponse.Status, missingImage: String? = nil) throws -> Response {
            try views.page(
                "run",
                RunPage(values: .init(fields), message: message, isAdmin: isAdmin, missingImage: missingImage, enginePath: context.base.enginePath),
                context: context, status: status
            )
        }
        let form: RunForm?
        let problem: String?
        do {
            form = try RunForm(fields)
            problem = nil
        } catch {
            form = nil
            problem = error.message
        }
        let result = try await audit.act(
            context: context, targetType: "image", targetName: form?.image ?? fields["image"], parameters: form?.auditParameters
        ) { record -> RunEnd in
            guard let form else {
                let message = problem ?? "The form could not be read."
                record.fail(message)
                return .answer(try again(message, status: .badRequest))
            }
            return try await run(form, engine: engine, enginePath: context.base.enginePath, isAdmin: isAdmin, record: &record, again: again)
        }
        switch result {
        case .refused:
            return try again(AuditTrail.unavailableMessage, status: .serviceUnavailable)
        case .done(.answer(let response), _):
            return response
        case .done(.started(let id, let name), let recorded):
            return .redirect(to: context.link("/containers/\(id)"), flash: AuditTrail.flash(.done("Started \(name).", recorded: recorded)))
        case .done(.ran(var page), let recorded):
            if !recorded { page.note = [page.note, AuditTrail.unrecordedOutcome("It ran.")].compactMap { $0 }.joined(separator: " ") }
            return try views.page("run-result", page, context: context)
        }
    }

    /// How a run ended, before its row is written.
    private enum RunEnd {
        /// Refused or failed: the answer says so whether or not its row is written.
        case answer(Response)
        case started(id: String, name: String)
        case ran(RunResultPage)
    }

    private func run(
        _ form: RunForm, engine: EngineClient, enginePath: String, isAdmin: Bool, record: inout AuditTrail.ActionRecord,
        again: (String, HTTPResponse.Status, String?) throws -> Response
    ) async throws -> RunEnd {
        // Operators run with the allow-listed options only.
        var adminOnly = form.adminOnlyOptions
        if !isAdmin {
            do {
                adminOnly += try await MountPolicy(engine: engine).adminOnly(form.mounts.map { .init(name: $0.source) })
            } catch let error as EngineError {
                let message = "The mounts could not be checked: \(error.description) Nothing was created."
                record.fail(message)
                return .answer(try again(message, .badGateway, nil))
            }
        }
        if !isAdmin && !adminOnly.isEmpty {
            record.deny("admin-only options: \(adminOnly.joined(separator: ", "))")
            return .answer(try again("Only admins may use: \(adminOnly.joined(separator: ", ")). Nothing was created.", .forbidden, nil))
        }
        let created: ContainerCreateResponse
        do {
            created = try await engine.createContainer(form.createRequest, name: form.name.isEmpty ? nil : form.name)
        } catch let error as EngineError {
            let message = Self.describeCreateError(error, image: form.image)
            record.fail(message)
            return .answer(try again(message, error.pageStatus, Self.isMissingImage(error) ? form.image : nil))
        }
        let name = form.name.isEmpty ? String(created.id.prefix(12)) : form.name
        record.targetType = "container"
        record.targetId = created.id
        record.targetName = name
        do {
            try await engine.startContainer(created.id)
        } catch let error as EngineError {
            record.fail(error.description)
            // Created but not started (a port taken, a missing command): leave it for the user to inspect.
            return .answer(.redirect(to: enginePath + "/containers/\(created.id)", flash: Flash(.error, "Created \(name), but it did not start: \(error.description)")))
        }
        if form.mode == .detached { return .started(id: created.id, name: name) }
        return .ran(await foreground(form: form, engine: engine, id: created.id, name: name, record: &record))
    }

    /// Waits (bounded) for a foreground container and shows what it printed.
    private func foreground(form: RunForm, engine: EngineClient, id: String, name: String, record: inout AuditTrail.ActionRecord) async -> RunResultPage {
        var exitCode: Int?
        var waitError: String?
        do {
            let result = try await engine.waitContainer(id, condition: .notRunning, timeout: foregroundWait)
            exitCode = result.statusCode
            waitError = result.error?.message.flatMap { $0.isEmpty ? nil : $0 }
        } catch let error as EngineError {
            if case .unreachable(_, let reason) = error, reason == "no answer in time" {
                exitCode = nil  // still running
            } else {
                waitError = error.description
            }
        } catch {
            waitError = "The wait was cut short: \(error)"
        }
        var output = RunResultPage.Output()
        do {
            output = try await Self.collect(try await engine.containerLogs(id, tty: form.tty))
        } catch {
            output.note = "The output could not be read: \((error as? EngineError)?.description ?? "\(error)")"
        }
        var removed = false
        if form.autoRemove, exitCode != nil {
            removed = (try? await engine.removeContainer(id)) != nil
        }
        if let exitCode { record.add(["exitCode": String(exitCode)]) }
        if let waitError { record.fail(waitError) }
        return RunResultPage(
            title: "Ran \(name)", id: id, name: name, image: form.image, command: form.command.joined(separator: " "),
            exitCode: exitCode, stillRunning: exitCode == nil && waitError == nil, waitError: waitError,
            stdout: output.stdout, stderr: output.stderr, tty: form.tty, note: output.note, removed: removed
        )
    }

    /// Reads a finished container's output, bounded per stream.
    static func collect(_ logs: ContainerLogs) async throws -> RunResultPage.Output {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var cut = false
        for try await frame in logs {
            if frame.stream == .stderr {
                let room = outputLimit - stderr.count
                if room > 0 { stderr += frame.bytes.prefix(room) }
                if frame.bytes.count > room { cut = true }
            } else {
                let room = outputLimit - stdout.count
                if room > 0 { stdout += frame.bytes.prefix(room) }
                if frame.bytes.count > room { cut = true }
            }
        }
        return RunResultPage.Output(
            stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self),
            note: cut ? "The output was longer than 1 MiB per stream and is cut; the container's log has all of it." : nil
        )
    }

    static func isMissingImage(_ error: EngineError) -> Bool {
        guard error.kind == .notFound, case .daemon(_, let message) = error else { return false }
        return message.lowercased().contains("no such image")
    }

    static func describeCreateError(_ error: EngineError, image: String) -> String {
        if isMissingImage(error) {
            return "The image \(image) is not on this engine. Pull it first, then run it again."
        }
        return error.description
    }
}
