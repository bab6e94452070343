import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Running a container from the browser: in the foreground (wait and show its output) or detached.
struct RunController: Sendable {
    let engine: EngineClient
    let audit: AuditTrail
    let views: PageRenderer
    /// How long a foreground run is waited for before the page says it is still running.
    let foregroundWait: TimeAmount

    /// Output shown on the result page, per stream; more is cut with a note.
    static let outputLimit = 1024 * 1024

    func addRoutes(to routes: Routes) {
        routes.get("/containers/new", .operateContainers, use: showForm)
        routes.post("/containers/run", .operateContainers, audit: "container.run", use: run)
    }

    @Sendable func showForm(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let image = request.uri.queryParameters["image"].map(String.init) ?? ""
        return try views.page("run", RunPage(values: .init(image: image), message: nil, isAdmin: context.user?.role == .admin), context: context)
    }

    /// `POST /containers/run`.
    @Sendable func run(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let fields = context.form ?? FormFields("")
        let isAdmin = context.user?.role == .admin
        func again(_ message: String, status: HTTPResponse.Status, missingImage: String? = nil) throws -> Response {
            try views.page(
                "run", RunPage(values: .init(fields), message: message, isAdmin: isAdmin, missingImage: missingImage),
                context: context, status: status
            )
        }

        let form: RunForm
        do {
            form = try RunForm(fields)
        } catch {
            return try again(error.message, status: .badRequest)
        }
        // Operators run with the allow-listed options only.
        var adminOnly = form.adminOnlyOptions
        if !isAdmin {
            do {
                adminOnly += try await MountPolicy(engine: engine).adminOnly(form.mounts.map { .init(name: $0.source) })
            } catch let error as EngineError {
                return try again("The mounts could not be checked: \(error.description) Nothing was created.", status: .badGateway)
            }
        }
        if !isAdmin && !adminOnly.isEmpty {
            await audit.record(
                "container.run", outcome: .denied, context: context, targetType: "image", targetName: form.image,
                parameters: form.auditParameters, error: "admin-only options: \(adminOnly.joined(separator: ", "))", started: started
            )
            return try again("Only admins may use: \(adminOnly.joined(separator: ", ")). Nothing was created.", status: .forbidden)
        }
        guard let attempt = await audit.begin(
            "container.run", context: context, targetType: "image", targetName: form.image, parameters: form.auditParameters
        ) else {
            return try again(AuditTrail.unavailableMessage, status: .serviceUnavailable)
        }

        let created: ContainerCreateResponse
        do {
            created = try await engine.createContainer(form.createRequest, name: form.name.isEmpty ? nil : form.name)
        } catch let error as EngineError {
            let message = Self.describeCreateError(error, image: form.image)
            await audit.finish(attempt, outcome: .error, error: message)
            return try again(
                message, status: error.pageStatus,
                missingImage: Self.isMissingImage(error) ? form.image : nil
            )
        } catch {
            // Cancelled (the server is stopping): the attempt still gets its outcome.
            await audit.finish(attempt, outcome: .error, error: "\(error)")
            throw error
        }
        let name = form.name.isEmpty ? String(created.id.prefix(12)) : form.name
        do {
            try await engine.startContainer(created.id)
        } catch let error as EngineError {
            await audit.finish(attempt, outcome: .error, targetType: "container", targetId: created.id, targetName: name, error: error.description)
            // Created but not started (a port taken, a missing command): leave it for the user to inspect.
            return .redirect(to: "/containers/\(created.id)", flash: Flash(.error, "Created \(name), but it did not start: \(error.description)"))
        } catch {
            await audit.finish(attempt, outcome: .error, targetType: "container", targetId: created.id, targetName: name, error: "\(error)")
            throw error
        }

        if form.mode == .detached {
            let written = await audit.finish(attempt, outcome: .ok, targetType: "container", targetId: created.id, targetName: name)
            let message = "Started \(name)."
            return .redirect(
                to: "/containers/\(created.id)", flash: written ? Flash(.ok, message) : Flash(.error, AuditTrail.unrecordedOutcome(message))
            )
        }
        return try await foreground(form: form, id: created.id, name: name, attempt: attempt, context: context)
    }

    /// Waits (bounded) for a foreground container and shows what it printed.
    private func foreground(form: RunForm, id: String, name: String, attempt: AuditTrail.Attempt, context: BerthRequestContext) async throws -> Response {
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
        var parameters = form.auditParameters
        if let exitCode { parameters["exitCode"] = String(exitCode) }
        let written = await audit.finish(
            attempt, outcome: waitError == nil ? .ok : .error, targetType: "container", targetId: id, targetName: name,
            parameters: parameters, error: waitError
        )
        let page = RunResultPage(
            title: "Ran \(name)", id: id, name: name, image: form.image, command: form.command.joined(separator: " "),
            exitCode: exitCode, stillRunning: exitCode == nil && waitError == nil, waitError: waitError,
            stdout: output.stdout, stderr: output.stderr, tty: form.tty,
            note: written ? output.note : [output.note, AuditTrail.unrecordedOutcome("It ran.")].compactMap { $0 }.joined(separator: " "),
            removed: removed
        )
        return try views.page("run-result", page, context: context)
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

/// What `run.mustache` shows: the form, filled again after an error.
struct RunPage: Sendable {
    let title = "Run a container"
    let values: Values
    let message: String?
    let isAdmin: Bool

    init(values: Values, message: String?, isAdmin: Bool, missingImage: String? = nil) {
        self.values = values
        self.message = message
        self.isAdmin = isAdmin
        self.missingImage = missingImage
        pullLink = missingImage.map { "/images?reference=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") }
    }
    /// The image the engine does not have, offered for a pull, and the images page with it filled in.
    let missingImage: String?
    let pullLink: String?

    struct Values: Sendable {
        var image = ""
        var name = ""
        var command = ""
        var commandPerLine = false
        var env = ""
        var labels = ""
        var ports = ""
        var mounts = ""
        var network = "none"
        var restart = "no"
        var autoRemove = false
        var workingDir = ""
        var user = ""
        var tty = false
        var detached = false
        var privileged = false
        var capAdd = ""
        var hostPID = false

        init(image: String = "") {
            self.image = image
        }

        init(_ form: FormFields) {
            image = form["image"] ?? ""
            name = form["name"] ?? ""
            command = form["command"] ?? ""
            commandPerLine = form["commandMode"] == "lines"
            env = form["env"] ?? ""
            labels = form["labels"] ?? ""
            ports = form["ports"] ?? ""
            mounts = form["mounts"] ?? ""
            network = form["network"] ?? "none"
            restart = form["restart"] ?? "no"
            autoRemove = form.isChecked("autoRemove")
            workingDir = form["workingDir"] ?? ""
            user = form["user"] ?? ""
            tty = form.isChecked("tty")
            detached = form["mode"] == "detached"
            privileged = form.isChecked("privileged")
            capAdd = form["capAdd"] ?? ""
            hostPID = form.isChecked("hostPID")
        }
    }
}

/// What `run-result.mustache` shows after a foreground run.
struct RunResultPage: Sendable {
    let title: String
    let id: String
    let name: String
    let image: String
    let command: String
    let exitCode: Int?
    let stillRunning: Bool
    let waitError: String?
    let stdout: String
    let stderr: String
    let tty: Bool
    let note: String?
    let removed: Bool

    struct Output: Sendable {
        var stdout = ""
        var stderr = ""
        var note: String?
    }
}
