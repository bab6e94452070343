import BerthStore
import Compose
import EngineAPI
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// One console from the page's connection to its end: refused with an audit row and a message, or opened with a row,
/// joined to the process both ways (recorded as it goes), and closed with a row that names the recording's hash.
struct ConsoleSession: Sendable {
    let controller: ConsoleController
    let engine: EngineClient
    let request: ConsoleRequest
    let user: SignedInUser
    let context: BerthRequestContext
    let terminal: ConsoleTerminal

    /// How often the session behind the console is looked at (sign-out is immediate; this catches expiry and a role
    /// or group taken away, which the account re-check notices within its own interval).
    static let sessionCheckInterval: Duration = .seconds(10)
    /// The largest message the page may send at once (a paste).
    static let maxInputMessage = 256 * 1024

    /// Why a console ended.
    enum Ending: Sendable, Equatable {
        case exited
        /// The process ended because its container did (stopped, killed, or taken down with the engine).
        case containerStopped
        case pageClosed
        case engineDropped(String)
        case limit(String)
        case sessionEnded(String)
        case recordingFailed(String)
    }

    private var audit: AuditTrail { controller.audit }

    func run(inbound: WebSocketInboundStream) async {
        var parameters = ["command": request.command, "user": request.user, "workdir": request.workdir]
            .filter { !$0.value.isEmpty }
        parameters["size"] = "\(request.columns)x\(request.rows)"

        func refuse(_ message: String, _ outcome: AuditEvent.Outcome, name: String? = nil) async {
            await audit.record(
                .consoleOpen, outcome: outcome, context: context, targetType: "container", targetId: request.container,
                targetName: name, parameters: parameters, error: message
            )
            await terminal.tell("error", ["message": message])
        }

        if let full = controller.registry.admit(user.username) {
            await refuse(full, .denied)
            return
        }
        defer { controller.registry.release(user.username) }

        let inspect: ContainerInspect
        do {
            inspect = try await engine.inspectContainer(request.container)
        } catch let error as EngineError {
            await refuse(error.kind == .notFound ? EngineError.missingContainer(request.container) : error.description, .error)
            return
        } catch {
            await refuse("\(error)", .error)
            return
        }
        let name = inspect.displayName
        guard inspect.state?.running == true else {
            await refuse("\(name) is not running: start it, then open the console again.", .error, name: name)
            return
        }
        let command: [String]
        do {
            command = try await self.command(in: inspect.id)
        } catch let failure as AuditTrail.ActionFailure {
            await refuse(failure.message, .error, name: name)
            return
        } catch {
            await refuse(AuditTrail.message(for: error), .error, name: name)
            return
        }
        parameters["command"] = command.joined(separator: " ")

        let recorder: ConsoleRecorder
        do {
            recorder = try await ConsoleRecorder.start(
                database: controller.database, actor: user.username, container: inspect.id, containerName: name,
                command: command.joined(separator: " "), columns: request.columns, rows: request.rows,
                maxBytes: controller.settings.recordMaxBytes
            )
        } catch {
            await refuse(AuditTrail.unavailableMessage, .error, name: name)
            return
        }
        parameters["recording"] = String(recorder.recordingId)
        // Nothing runs unless its opening is on record.
        guard await audit.record(
            .consoleOpen, outcome: .ok, context: context, targetType: "container", targetId: inspect.id, targetName: name,
            parameters: parameters
        ) else {
            await terminal.tell("error", ["message": AuditTrail.unavailableMessage])
            return
        }

        let outcome = try? await audit.act(
            .consoleClose, context: context, targetType: "container", targetId: inspect.id, targetName: name,
            parameters: ["recording": String(recorder.recordingId)]
        ) { record in
            let result = await bridge(container: inspect.id, command: command, recorder: recorder, inbound: inbound)
            record.add(result.parameters)
            if let error = result.error { record.fail(error) }
            return result
        }
        switch outcome {
        case .refused?, nil:
            await terminal.tell("closed", ["message": AuditTrail.unavailableMessage])
        case .done(let result, _)?:
            if let code = result.exitCode, result.ending == .exited {
                await terminal.tell("exit", ["code": code])
            } else {
                await terminal.tell("closed", ["message": result.message])
            }
        }
    }

    /// The command to run: the page's, or the first shell the container has.
    private func command(in container: String) async throws -> [String] {
        if !request.command.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                return try CommandLineSplitter.split(request.command)
            } catch {
                throw AuditTrail.ActionFailure("The command can't be read: \(error.message).")
            }
        }
        for shell in ConsoleController.shells where try await engine.containerPathExists(container, path: shell) {
            return [shell]
        }
        throw AuditTrail.ActionFailure(
            "This container has no shell (\(ConsoleController.shells.joined(separator: ", "))). Name a command it has to run instead."
        )
    }

    /// What a finished console tells its closing row and the page.
    struct Result: Sendable {
        var ending: Ending
        var exitCode: Int?
        var bytesIn = 0
        var bytesOut = 0
        var recording: ConsoleRecorder.Summary?
        var error: String?
        /// Why the process could not be ended after the console closed (it still runs in the container).
        var leftRunning: String?

        var parameters: [String: String] {
            var parameters = ["ended": endingText, "bytesIn": String(bytesIn), "bytesOut": String(bytesOut)]
            if let exitCode { parameters["exitCode"] = String(exitCode) }
            if let leftRunning { parameters["leftRunning"] = leftRunning }
            if let recording {
                parameters["recording"] = String(recording.recordingId)
                parameters["recordingSha256"] = recording.sha256
                parameters["recordingBytes"] = String(recording.bytes)
                if recording.truncated { parameters["recordingTruncated"] = "1" }
            }
            return parameters
        }

        var endingText: String {
            switch ending {
            case .exited: "exit"
            case .containerStopped: "container stopped"
            case .pageClosed: "page closed"
            case .engineDropped: "engine connection lost"
            case .limit(let reason), .sessionEnded(let reason), .recordingFailed(let reason): reason
            }
        }

        /// What the page shows when the console did not end with its process.
        var message: String {
            switch ending {
            case .exited: "The process ended."
            case .containerStopped:
                "The container stopped, and the console with it" + (exitCode.map { " (the process ended with code \($0))" } ?? "") + "."
            case .pageClosed: "Closed."
            case .engineDropped(let reason): "The connection to the engine was lost (\(reason)). The console is closed."
            case .limit(let reason), .sessionEnded(let reason): "The console was closed: \(reason)."
            case .recordingFailed(let reason): "The console was closed: \(reason)."
            }
        }
    }

    /// Starts the process and carries bytes both ways until one side ends, a limit is reached or the session is over.
    private func bridge(
        container: String, command: [String], recorder: ConsoleRecorder, inbound: WebSocketInboundStream
    ) async -> Result {
        let options = ExecOptions(
            command: command, user: request.user.isEmpty ? nil : request.user,
            workingDirectory: request.workdir.isEmpty ? nil : request.workdir,
            environment: ["TERM=xterm-256color"], tty: true
        )
        let exec: ExecSession
        do {
            let id = try await engine.createExec(in: container, options: options)
            exec = try await engine.startExec(id, tty: true)
        } catch {
            var result = Result(ending: .engineDropped(AuditTrail.message(for: error)))
            result.error = AuditTrail.message(for: error)
            result.recording = try? await recorder.finish()
            return result
        }
        // The engine sizes a new terminal 80x24 (or not at all): the page's size goes right after the start.
        try? await engine.resizeExec(exec.id, rows: request.rows, columns: request.columns)
        await terminal.tell("opened", ["command": command.joined(separator: " "), "recording": recorder.recordingId])

        let counters = ConsoleCounters()
        let (signOuts, signOut) = AsyncStream.makeStream(of: String.self)
        let registration = controller.sessions.streams.register(sessionKey: user.sessionKey) { reason in
            signOut.yield(reason)
        }
        let ending = await withTaskGroup(of: Ending.self) { group in
            group.addTask { await pumpOutput(exec, recorder: recorder, counters: counters) }
            group.addTask { await pumpInput(inbound, exec, recorder: recorder, counters: counters) }
            group.addTask { await watch(counters: counters, recorder: recorder) }
            group.addTask {
                for await reason in signOuts { return .sessionEnded(reason.trimmingCharacters(in: CharacterSet(charactersIn: "."))) }
                return .pageClosed
            }
            let first = await group.next() ?? .pageClosed
            group.cancelAll()
            exec.close()
            signOut.finish()
            return first
        }
        controller.sessions.streams.unregister(registration)

        var result = Result(ending: ending, bytesIn: counters.bytesIn, bytesOut: counters.bytesOut)
        if ending == .exited {
            do {
                result.exitCode = try await engine.inspectExec(exec.id).exitCode
                // A container that stopped took its processes with it: say that, not just an exit code.
                if try await containerStopped(container, killedBySignal: (result.exitCode ?? 0) > 128) {
                    result.ending = .containerStopped
                }
            } catch {
                // The output ended because the engine went (a stopped daemon takes its containers with it).
                result.ending = .engineDropped(AuditTrail.message(for: error))
            }
        }
        if case .engineDropped(let reason) = result.ending { result.error = "the engine connection was lost: \(reason)" }
        if result.ending != .exited && result.ending != .containerStopped {
            result.leftRunning = await endProcess(exec, container: container)
        }
        do {
            result.recording = try await recorder.finish()
        } catch {
            result.error = "the recording could not be written: \(error)"
        }
        return result
    }

    /// Whether the container is no longer running. A process killed by a signal may be the first sign of a stopping
    /// container or engine, whose state the daemon reports a moment later: then it is asked again for up to a second.
    private func containerStopped(_ container: String, killedBySignal: Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(1)
        while true {
            if try await engine.inspectContainer(container).state?.running != true { return true }
            guard killedBySignal, ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// docker exec has no way to end a process, and closing its connection leaves one that does not read its terminal
    /// (`top`) running in the container. So the process is asked to hang up from inside the container (`kill -HUP`,
    /// then `-KILL`), by the pid it has there, which `/proc/<pid>/status` (NSpid) tells when the engine runs on this
    /// machine. Returns why it could not be ended, or nil.
    private func endProcess(_ exec: ExecSession, container: String) async -> String? {
        guard let state = try? await engine.inspectExec(exec.id), state.running, let hostPid = state.pid else { return nil }
        // Only an engine on this machine's socket shares Berth's /proc: a remote engine's pid is another process here.
        guard case .unix = engine.address else {
            return "host pid \(hostPid) on a remote engine: its pid in the container is unknown"
        }
        guard let pid = Self.containerPid(ofHostPid: hostPid) else {
            return "host pid \(hostPid); its pid in the container is unknown (the engine is not on Berth's machine)"
        }
        for signal in ["HUP", "KILL"] {
            do {
                let kill = try await engine.createExec(
                    in: container, options: ExecOptions(command: ["kill", "-\(signal)", String(pid)], user: "0", tty: false)
                )
                let killing = try await engine.startExec(kill, tty: false)
                for try await _ in killing.output {}
            } catch {
                return "pid \(pid) in the container; kill failed: \(AuditTrail.message(for: error))"
            }
            for _ in 0..<20 {
                guard (try? await engine.inspectExec(exec.id))?.running == true else { return nil }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return "pid \(pid) in the container did not end on SIGKILL"
    }

    /// The pid a process of this machine has inside its own pid namespace (the last field of `NSpid`).
    static func containerPid(ofHostPid pid: Int) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int($0) }
        }
        return nil
    }

    private func pumpOutput(_ exec: ExecSession, recorder: ConsoleRecorder, counters: ConsoleCounters) async -> Ending {
        do {
            for try await chunk in exec.output {
                counters.addOut(chunk.readableBytes)
                await recorder.output(chunk)
                do {
                    try await terminal.output(chunk)
                } catch {
                    return .pageClosed
                }
            }
            return .exited
        } catch {
            if Task.isCancelled { return .pageClosed }
            return .engineDropped(AuditTrail.message(for: error))
        }
    }

    private func pumpInput(
        _ inbound: WebSocketInboundStream, _ exec: ExecSession, recorder: ConsoleRecorder, counters: ConsoleCounters
    ) async -> Ending {
        do {
            for try await message in inbound.messages(maxSize: Self.maxInputMessage) {
                switch message {
                case .binary(let bytes):
                    counters.typed(bytes.readableBytes)
                    await recorder.input(bytes)
                    do {
                        try await exec.send(bytes)
                    } catch {
                        return .engineDropped(AuditTrail.message(for: error))
                    }
                case .text(let text):
                    guard let size = TerminalSize(json: text) else { continue }
                    await recorder.resize(columns: size.columns, rows: size.rows)
                    try? await engine.resizeExec(exec.id, rows: size.rows, columns: size.columns)
                }
            }
        } catch {
            // A message past the size limit, or the connection torn: the page is gone either way.
        }
        return .pageClosed
    }

    /// The limits and the session, looked at every second (the idle and hard limits) and every few seconds (the session).
    private func watch(counters: ConsoleCounters, recorder: ConsoleRecorder) async -> Ending {
        let settings = controller.settings
        let started = ContinuousClock.now
        var nextSessionCheck = started + Self.sessionCheckInterval
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                break
            }
            let now = ContinuousClock.now
            if now - started >= .seconds(settings.maxDuration) {
                return .limit("it was open for the longest a console may be (--console-max-duration)")
            }
            if now - counters.lastInput >= .seconds(settings.idleTimeout) {
                return .limit("nothing was typed for \(settings.idleTimeout / 60 > 0 ? "\(settings.idleTimeout / 60) min" : "\(settings.idleTimeout) s") (--console-idle-timeout)")
            }
            if let failure = await recorder.failure { return .recordingFailed(failure) }
            if now >= nextSessionCheck {
                nextSessionCheck = now + Self.sessionCheckInterval
                // Typing in a console is activity: it keeps the Berth session from its idle timeout.
                let typedRecently = now - counters.lastInput < Self.sessionCheckInterval
                switch await controller.sessions.resolve(key: user.sessionKey, activity: typedRecently) {
                case .valid(let current):
                    // As the central check saw it: the role and powers on the console's engine.
                    // The engine as it is now: one replaced or removed by an admin ends the console.
                    guard let opened = context.scopedEngine, let access = context.engineAccess,
                        let now = access.directory.named(opened.name), now === opened
                    else { return .sessionEnded("an administrator changed or removed this engine") }
                    guard let onEngine = access.roles.user(current, on: now) else {
                        return .sessionEnded("you no longer have a role on this engine")
                    }
                    if !Permission.exec.admits(onEngine) {
                        return .sessionEnded("your account may no longer open consoles")
                    }
                case .ended(_, let reason):
                    return .sessionEnded("your session ended (\(reason))")
                case .none:
                    return .sessionEnded("you were signed out")
                }
            }
        }
        return .pageClosed
    }
}

/// Bytes each way and the time of the last keystroke, shared by the pumps and the watcher.
final class ConsoleCounters: Sendable {
    private struct State {
        var bytesIn = 0
        var bytesOut = 0
        var lastInput = ContinuousClock.now
    }

    private let state = NIOLockedValueBox(State())

    func typed(_ count: Int) {
        state.withLockedValue {
            $0.bytesIn += count
            $0.lastInput = .now
        }
    }

    func addOut(_ count: Int) { state.withLockedValue { $0.bytesOut += count } }
    var bytesIn: Int { state.withLockedValue { $0.bytesIn } }
    var bytesOut: Int { state.withLockedValue { $0.bytesOut } }
    var lastInput: ContinuousClock.Instant { state.withLockedValue { $0.lastInput } }
}

/// `{"type": "resize", "cols": 120, "rows": 40}` from the page.
struct TerminalSize: Equatable {
    let columns: Int
    let rows: Int

    init?(json: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              object["type"] as? String == "resize",
              let columns = object["cols"] as? Int, let rows = object["rows"] as? Int,
              (1...1000).contains(columns), (1...1000).contains(rows)
        else { return nil }
        self.columns = columns
        self.rows = rows
    }
}
