import EngineAPI
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TestSupport

/// `docker exec` with a terminal, attached both ways, against the real engine: what a console in the browser is made of.
@Suite struct ExecTests {
    /// Reads a session's output as it comes (one reader for the whole session: leaving the output's loop closes it),
    /// answering the shell's cursor position queries (`ESC [ 6 n`, busybox's line editing asks at every prompt) as a
    /// terminal does.
    final class Transcript: Sendable {
        private let text = NIOLockedValueBox("")
        private let ended = NIOLockedValueBox(false)
        private let reader: Task<Void, Never>

        init(_ session: ExecSession) {
            let text = self.text
            let ended = self.ended
            reader = Task {
                do {
                    for try await piece in session.output {
                        // Answered before anyone sees the prompt, so that what they type next comes after the answer.
                        let queries = String(buffer: piece).components(separatedBy: "\u{1B}[6n").count - 1
                        for _ in 0..<queries { try await session.send(ByteBuffer(string: "\u{1B}[1;1R")) }
                        text.withLockedValue { $0 += String(buffer: piece) }
                    }
                } catch {}
                ended.withLockedValue { $0 = true }
            }
        }

        deinit { reader.cancel() }

        var current: String { text.withLockedValue { $0 } }

        /// Waits until the output so far satisfies `done` (or it ended, or `timeout` passed) and returns it.
        func wait(timeout: Duration = .seconds(10), until done: (String) -> Bool) async -> String {
            let deadline = ContinuousClock.now + timeout
            while !done(current), !ended.withLockedValue({ $0 }), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return current
        }

        /// Waits for the shell's `count`th prompt (each asks for the cursor position once): input typed before the
        /// prompt can be taken for the answer to that question, as on a terminal where one types ahead.
        func prompt(_ count: Int) async {
            _ = await wait { $0.components(separatedBy: "\u{1B}[6n").count - 1 >= count }
        }

        /// Waits for the output to end (the process exited or the connection closed).
        func end(timeout: Duration = .seconds(10)) async -> String {
            await wait(timeout: timeout) { _ in false }
        }

        var hasEnded: Bool { ended.withLockedValue { $0 } }
    }

    /// A busybox container that sleeps, a process started in it (a shell with a terminal unless told), the exec's id
    /// and its transcript (for a terminal).
    struct Shell {
        let client: EngineClient
        let container: String
        let id: String
        let session: ExecSession
    }

    func withShell(_ options: ExecOptions = ExecOptions(command: ["/bin/sh"]), _ body: (Shell) async throws -> Void) async throws {
        try await TestEngine.withContainers { client, scope in
            let container = try await scope.busybox(["sleep", "600"])
            let id = try await client.createExec(in: container, options: options)
            let session = try await client.startExec(id, tty: options.tty)
            defer { session.close() }
            try await body(Shell(client: client, container: container, id: id, session: session))
        }
    }

    /// The state once the process exited (the engine records the exit code a moment after the output ends).
    func exited(_ client: EngineClient, _ id: String) async throws -> ExecState {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let state = try await client.inspectExec(id)
            if !state.running || ContinuousClock.now > deadline { return state }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func aShellEchoesWhatIsTypedAndItsExitCodeIsRead() async throws {
        try await withShell { shell in
            let (client, id, session) = (shell.client, shell.id, shell.session)
            #expect(try await client.inspectExec(id).running)
            let output = Transcript(session)
            await output.prompt(1)
            try await session.send(ByteBuffer(string: "echo hel\"\"lo; exit 3\r"))
            let text = await output.end()
            #expect(output.hasEnded)
            // The terminal echoes the line as typed; the output has the quotes gone.
            #expect(text.contains("echo hel\"\"lo; exit 3"))
            #expect(text.contains("hello\r\n"))
            let state = try await exited(client, id)
            #expect(!state.running)
            #expect(state.exitCode == 3)
        }
    }

    @Test func theTerminalTakesItsSizeAndCtrlCInterruptsTheProcess() async throws {
        try await withShell { shell in
            let (client, id, session) = (shell.client, shell.id, shell.session)
            let output = Transcript(session)
            await output.prompt(1)
            try await client.resizeExec(id, rows: 33, columns: 101)
            try await session.send(ByteBuffer(string: "stty size\r"))
            // (Closures stay out of #expect: one inside it was called in place of the one passed to the next wait.)
            let sized = await output.wait { $0.contains("33 101") }
            #expect(sized.contains("33 101"), "\(sized)")

            await output.prompt(2)
            try await session.send(ByteBuffer(string: "sleep 100\r"))
            try await Task.sleep(for: .milliseconds(300))
            try await session.send(ByteBuffer(bytes: [0x03]))
            // Interrupted: the shell prompts again at once, and the status is that of a process killed by SIGINT.
            await output.prompt(3)
            try await session.send(ByteBuffer(string: "echo after-$?\r"))
            let text = await output.wait(timeout: .seconds(5)) { $0.contains("after-130") }
            #expect(text.contains("after-130"), "\(text)")
            await output.prompt(4)
            try await session.send(ByteBuffer(string: "exit 0\r"))
            #expect(try await exited(client, id).exitCode == 0)
        }
    }

    @Test func aMissingCommandIsAnErrorInTheOutputAndAnExitCode() async throws {
        try await withShell(ExecOptions(command: ["/bin/bash"])) { shell in
            let (client, container, id, session) = (shell.client, shell.container, shell.id, shell.session)
            #expect(try await client.containerPathExists(container, path: "/bin/sh"))
            #expect(try await !client.containerPathExists(container, path: "/bin/bash"))
            let text = await Transcript(session).end()
            #expect(text.contains("/bin/bash"), "\(text)")
            let state = try await exited(client, id)
            #expect(state.exitCode != 0 && state.exitCode != nil)
        }
    }

    @Test func aStoppedOrMissingContainerIsRefusedInTheEnginesWords() async throws {
        try await TestEngine.withContainers { client, scope in
            let container = try await scope.busybox(["true"], start: false)
            await #expect {
                _ = try await client.createExec(in: container, options: ExecOptions(command: ["/bin/sh"]))
            } throws: { ($0 as? EngineError)?.kind == .conflict }
            await #expect {
                _ = try await client.createExec(in: "berth-test-no-such-container", options: ExecOptions(command: ["/bin/sh"]))
            } throws: { ($0 as? EngineError)?.kind == .notFound }
            await #expect {
                _ = try await client.containerPathExists("berth-test-no-such-container", path: "/bin/sh")
            } throws: { ($0 as? EngineError)?.kind == .notFound }
        }
    }

    @Test func aProcessThatDoesNotReadItsInputSlowsTheSender() async throws {
        // No terminal: nothing reads the input, so the engine stops taking it once the pipes and sockets are full.
        try await withShell(ExecOptions(command: ["sleep", "600"], tty: false)) { shell in
            let session = shell.session
            let sent = NIOLockedValueBox(0)
            let sender = Task {
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
                for _ in 0..<1024 {
                    try await session.send(chunk)
                    sent.withLockedValue { $0 += chunk.readableBytes }
                }
            }
            try await Task.sleep(for: .seconds(2))
            // 64 MiB offered; what the kernel's buffers hold got through, then the sender waits.
            let through = sent.withLockedValue { $0 }
            #expect(through < 16 * 1024 * 1024, "\(through) bytes went to a process that reads none")
            sender.cancel()
            session.close()
            _ = await sender.result
        }
    }

    @Test func theSessionEndsWhenTheContainerStops() async throws {
        try await withShell { shell in
            let (client, container, session) = (shell.client, shell.container, shell.session)
            let output = Transcript(session)
            try await client.killContainer(container)
            // The output ends instead of hanging.
            _ = await output.end(timeout: .seconds(15))
            #expect(output.hasEnded)
        }
    }
}
