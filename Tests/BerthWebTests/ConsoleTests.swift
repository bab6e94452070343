@testable import BerthWeb
import BerthStore
import CompressNIO
import EngineAPI
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TestSupport

/// Consoles through Berth's WebSocket, as the page opens them: real engine, real PAM users, the served app.
@Suite struct ConsoleTests {
    @Test func anAdminsConsoleRunsWhatIsTypedAndIsAuditedAndRecorded() async throws {
        try await withConsoleFixture { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let transcript = try await console(port: port, browser: admin, container: name, query: "cols=100&rows=30") { console in
                try await console.waitForPrompt()
                try await console.type("echo hello; exit 3\r")
                try await console.waitUntilClosed()
            }
            #expect(transcript.events.first?["type"] as? String == "opened")
            #expect(transcript.events.first?["command"] as? String == "/bin/sh")
            #expect(transcript.output.contains("\nhello"), "\(transcript.output)")
            #expect(transcript.events.last?["type"] as? String == "exit")
            #expect(transcript.events.last?["code"] as? Int == 3)

            let events = try await app.auditEvents()
            let opened = try #require(events.first { $0.action == "console.open" })
            let closed = try #require(events.first { $0.action == "console.close" })
            #expect(opened.actor == "bt-admin" && opened.outcome == .ok && opened.targetName == name)
            let openParameters = try parameters(of: opened)
            #expect(openParameters["command"] == "/bin/sh" && openParameters["size"] == "100x30")
            let closeParameters = try parameters(of: closed)
            #expect(closed.outcome == .ok)
            #expect(closeParameters["exitCode"] == "3" && closeParameters["ended"] == "exit")
            #expect(Int(closeParameters["bytesIn"] ?? "") ?? 0 >= 18)
            let recordingId = try #require(closeParameters["recording"].flatMap(Int64.init))
            #expect(openParameters["recording"] == closeParameters["recording"])

            let database = try AppDatabase.open(path: app.configuration.databasePath)
            let recording = try #require(try await database.consoleRecording(id: recordingId))
            #expect(recording.sha256 == closeParameters["recordingSha256"])
            let text = String(decoding: try await database.consoleRecordingText(id: recordingId), as: UTF8.self)
            let lines = text.split(separator: "\n")
            let header = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            #expect(header["version"] as? Int == 2 && header["width"] as? Int == 100 && header["height"] as? Int == 30)
            // Echoed keystrokes are recorded in clear, and what the shell printed is there too.
            let typed = lines.dropFirst().compactMap(asciicastEvent).filter { $0.code == "i" }.map(\.data).joined()
            #expect(typed.contains("echo hello; exit 3"), "\(typed)")
            // The output as the terminal got it, whatever pieces the engine's reads cut it into.
            let output = lines.dropFirst().compactMap(asciicastEvent).filter { $0.code == "o" }.map(\.data).joined()
            #expect(output.contains("\r\nhello\r\n"), "the output line: \(output)")
            let checks = try await database.verifyConsoleRecordings()
            #expect(checks.contains { $0.id == recordingId && $0.problem == nil })
        }
    }

    @Test func operatorsViewersForeignPagesAndMissingTokensAreRefusedAtTheHandshake() async throws {
        try await withConsoleFixture { name, port, client, app in
            for user in ["bt-operator", "bt-viewer"] {
                let browser = try await signIn(client, as: user)
                await #expect(throws: (any Error).self) {
                    _ = try await console(port: port, browser: browser, container: name) { _ in }
                }
                let page = try await client.execute(uri: "/containers/\(name)", method: .get, headers: browser.getHeaders)
                #expect(!page.text.contains("/console\""), "no console link for \(user)")
                // The refusal's own status, not Hummingbird's 400 for any refused upgrade.
                let raw = try RawConnection(port: port)
                raw.send(
                    "GET /containers/\(name)/console/socket HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
                        + "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        + "Origin: http://127.0.0.1:\(port)\r\nCookie: \(browser.cookie)\r\n"
                        + "Sec-WebSocket-Protocol: berth.console, berth.csrf.\(browser.csrfToken)\r\n\r\n"
                )
                let answer = try #require(try await raw.firstBytes(timeout: .seconds(10)))
                #expect(answer.hasPrefix("HTTP/1.1 403"), "\(answer.prefix(40))")
            }
            let admin = try await signIn(client, as: "bt-admin")
            let foreignOrigin = "http://evil.example"
            await #expect(throws: (any Error).self) {
                _ = try await console(port: port, browser: admin, container: name, origin: foreignOrigin) { _ in }
            }
            var tokenless = admin
            tokenless.csrfToken = "wrong"
            await #expect(throws: (any Error).self) {
                _ = try await console(port: port, browser: tokenless, container: name) { _ in }
            }
            let events = try await app.auditEvents()
            let refusedRoles = events.filter { $0.action == "console.open" && $0.outcome == .denied }.map(\.actor)
            #expect(Set(refusedRoles) == ["bt-operator", "bt-viewer"])
            let csrf = events.filter { $0.action == "access.csrf" && $0.actor == "bt-admin" }
            #expect(csrf.count == 2, "the foreign origin and the wrong token")
            #expect(!events.contains { $0.action == "console.open" && $0.outcome == .ok })
        }
    }

    @Test func textTypedWithEchoOffIsRecordedHidden() async throws {
        try await withConsoleFixture { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            _ = try await console(port: port, browser: admin, container: name) { console in
                try await console.waitForPrompt()
                try await console.type("stty -echo; read secret; stty echo; echo got-${#secret}\r")
                try await Task.sleep(for: .milliseconds(300))
                // One keystroke at a time, as a person types.
                for character in "hunter2" {
                    try await console.type(String(character))
                    try await Task.sleep(for: .milliseconds(30))
                }
                try await console.type("\r")
                try await console.waitFor("got-7")
                try await console.waitForPrompt()
                try await console.type("exit\r")
                try await console.waitUntilClosed()
            }
            let closed = try #require(try await app.auditEvents().first { $0.action == "console.close" })
            let recordingId = try #require(try parameters(of: closed)["recording"].flatMap(Int64.init))
            let database = try AppDatabase.open(path: app.configuration.databasePath)
            let text = String(decoding: try await database.consoleRecordingText(id: recordingId), as: UTF8.self)
            #expect(!text.contains("hunter2") && !text.contains("hunter"), "the password is not in the recording")
            let typed = text.split(separator: "\n").dropFirst().compactMap(asciicastEvent).filter { $0.code == "i" }.map(\.data)
            #expect(typed.filter { $0 == "•" }.count == 7, "\(typed)")
            #expect(typed.joined().contains("exit"), "echoed typing stays in clear")
        }
    }

    @Test func ctrlCInterruptsTheProcessAndResizeReachesTheTerminal() async throws {
        try await withConsoleFixture { name, port, client, _ in
            let admin = try await signIn(client, as: "bt-admin")
            _ = try await console(port: port, browser: admin, container: name, query: "cols=90&rows=20") { console in
                try await console.waitForPrompt()
                try await console.type("stty size\r")
                try await console.waitFor("20 90")
                try await console.waitForPrompt()
                try await console.resize(columns: 132, rows: 43)
                try await console.type("stty size\r")
                try await console.waitFor("43 132")
                try await console.waitForPrompt()
                try await console.type("sleep 100; echo slept\r")
                try await Task.sleep(for: .milliseconds(300))
                let interrupted = ContinuousClock.now
                try await console.type("\u{03}")
                // The prompt comes back only once the sleep is interrupted.
                try await console.waitForPrompt()
                try await console.type("echo after-interrupt\r")
                try await console.waitFor("\nafter-interrupt")
                // Well before the 100 s the sleep would take (a loaded machine is slow to echo).
                #expect(ContinuousClock.now - interrupted < .seconds(50))
                #expect(!console.transcript.output.contains("\nslept"), "the sleep was interrupted, not finished")
                try await console.waitForPrompt()
                try await console.type("exit\r")
                try await console.waitUntilClosed()
            }
        }
    }

    @Test func aContainerWithoutShellAndAStoppedOneGetClearWords() async throws {
        try await TestEngine.withContainers { engine, scope in
            let shellless = TestEngine.uniqueName("console")
            try await scope.busybox(["sleep", "300"], name: shellless)
            // The image's shell taken out of this container (busybox links it): nothing to open.
            let remove = try await engine.createExec(in: shellless, options: ExecOptions(command: ["rm", "/bin/sh"], tty: false))
            let removing = try await engine.startExec(remove, tty: false)
            for try await _ in removing.output {}
            let stopped = TestEngine.uniqueName("console")
            try await scope.busybox(["sleep", "300"], name: stopped, start: false)
            try await withServedApp { port, client, app in
                let admin = try await signIn(client, as: "bt-admin")
                let noShell = try await console(port: port, browser: admin, container: shellless) { try await $0.waitUntilClosed() }
                #expect(noShell.events.last?["type"] as? String == "error")
                #expect((noShell.events.last?["message"] as? String)?.contains("has no shell") == true)
                let notRunning = try await console(port: port, browser: admin, container: stopped) { try await $0.waitUntilClosed() }
                #expect((notRunning.events.last?["message"] as? String)?.contains("is not running") == true)
                let missing = try await console(port: port, browser: admin, container: "no-such-container-here") { try await $0.waitUntilClosed() }
                #expect((missing.events.last?["message"] as? String)?.contains("No such container") == true)
                let refusals = try await app.auditEvents().filter { $0.action == "console.open" }
                #expect(refusals.count == 3 && refusals.allSatisfy { $0.outcome == .error })
            }
        }
    }

    @Test func aProcessThatDoesNotReadItsTerminalEndsWhenTheConsoleCloses() async throws {
        try await TestEngine.withContainers { engine, scope in
            let name = TestEngine.uniqueName("console")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            try await withServedApp { port, client, app in
                let admin = try await signIn(client, as: "bt-admin")
                // `top` never reads its input: closing the page's connection alone would leave it running.
                _ = try await console(port: port, browser: admin, container: name, query: "command=top") { console in
                    try await console.waitFor("Mem:")
                    try await console.close()
                }
                var processes = ""
                for _ in 0..<50 {
                    processes = try await Self.processes(in: id, engine: engine)
                    if !processes.contains(" top") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(!processes.contains(" top"), "\(processes)")
                // The page hung up first: the closing row comes once the process has been ended.
                var closing: AuditEvent?
                for _ in 0..<200 where closing == nil {
                    closing = try await app.auditEvents().first { $0.action == "console.close" }
                    if closing == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                let closed = try #require(closing)
                #expect(try parameters(of: closed)["ended"] == "page closed")
                #expect(try parameters(of: closed)["leftRunning"] == nil)
            }
        }
    }

    /// `ps` in the container, as the terminal shows it.
    static func processes(in container: String, engine: EngineClient) async throws -> String {
        let id = try await engine.createExec(in: container, options: ExecOptions(command: ["ps", "-o", "pid,comm"], tty: true))
        let session = try await engine.startExec(id, tty: true)
        var text = ""
        for try await chunk in session.output { text += String(buffer: chunk) }
        return text
    }

    @Test func signingOutClosesAnOpenConsole() async throws {
        try await withConsoleFixture { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let transcript = try await console(port: port, browser: admin, container: name) { console in
                try await console.waitForPrompt()
                let out = try await client.execute(uri: "/logout", method: .post, headers: admin.postHeaders(), body: ByteBuffer(string: "_csrf=\(admin.csrfToken)"))
                #expect(out.status == .seeOther)
                try await console.waitUntilClosed()
            }
            let message = transcript.events.last?["message"] as? String ?? ""
            #expect(transcript.events.last?["type"] as? String == "closed" && message.contains("signed out"), "\(transcript.events)")
            let closed = try #require(try await app.auditEvents().first { $0.action == "console.close" })
            #expect(try parameters(of: closed)["ended"]?.contains("signed out") == true)
        }
    }

    @Test func theIdleLimitClosesAConsoleAndTheRecordingStopsAtItsCap() async throws {
        try await withConsoleFixture(configure: { $0.console.idleTimeout = 2; $0.console.recordMaxKiB = 16 }) { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            // Output goes on without a keystroke: the idle limit ends the console however far it got.
            let transcript = try await console(port: port, browser: admin, container: name) { console in
                try await console.waitForPrompt()
                try await console.type("yes | head -c 2000000; echo output-done\r")
                try await console.waitUntilClosed(timeout: .seconds(40))
            }
            // More reached the terminal than the recording may keep.
            #expect(transcript.bytes.count > 64 * 1024, "\(transcript.bytes.count) bytes")
            let message = transcript.events.last?["message"] as? String ?? ""
            #expect(message.contains("nothing was typed"), "\(transcript.events)")
            let closed = try #require(try await app.auditEvents().first { $0.action == "console.close" })
            let closeParameters = try parameters(of: closed)
            #expect(closeParameters["recordingTruncated"] == "1")
            #expect(closeParameters["ended"]?.contains("--console-idle-timeout") == true)
            let database = try AppDatabase.open(path: app.configuration.databasePath)
            let id = try #require(closeParameters["recording"].flatMap(Int64.init))
            let text = try await database.consoleRecordingText(id: id)
            #expect(text.count <= 16 * 1024 + 200, "capped: \(text.count) bytes")
            #expect(String(decoding: text, as: UTF8.self).contains("\"m\", \"recording truncated"))
            #expect(try await database.consoleRecording(id: id)?.truncated == true)
        }
    }

    @Test func anOperatorInTheConsoleGroupMayUntilTheGroupIsTakenAway() async throws {
        try await withConsoleFixture(configure: { $0.sessions.accountRecheckInterval = 1 }) { name, port, client, app in
            let member = try await signIn(client, as: "bt-consoler")
            let page = try await client.execute(uri: "/containers/\(name)", method: .get, headers: member.getHeaders)
            #expect(page.text.contains("/console\">Console</a>"), "an operator in the console group gets the link")
            let transcript = try await console(port: port, browser: member, container: name) { console in
                try await console.waitForPrompt()
                try TestUsers.shell("gpasswd", "-d", "bt-consoler", TestUsers.consoleGroup)
                defer { try? TestUsers.shell("gpasswd", "-a", "bt-consoler", TestUsers.consoleGroup) }
                try await console.waitUntilClosed(timeout: .seconds(30))
            }
            let message = transcript.events.last?["message"] as? String ?? ""
            #expect(message.contains("may no longer open consoles"), "\(transcript.events)")
            let closed = try #require(try await app.auditEvents().first { $0.action == "console.close" })
            #expect(closed.actor == "bt-consoler" && closed.role == "operator")
        }
    }

    @Test func pastItsCapAPersonsNextConsoleIsRefusedWithWordsAndARow() async throws {
        try await withConsoleFixture(configure: { $0.console.perUser = 1 }) { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            _ = try await console(port: port, browser: admin, container: name) { first in
                try await first.waitForPrompt()
                let second = try await console(port: port, browser: admin, container: name) { try await $0.waitUntilClosed() }
                #expect(second.events.last?["type"] as? String == "error")
                #expect((second.events.last?["message"] as? String)?.contains("--console-max-per-user") == true, "\(second.events)")
                try await first.type("exit\r")
                try await first.waitUntilClosed()
            }
            let refused = try await app.auditEvents().filter { $0.action == "console.open" && $0.outcome == .denied }
            #expect(refused.count == 1)
            // The place is free again once the first has closed.
            let third = try await console(port: port, browser: admin, container: name) { console in
                try await console.waitForPrompt()
                try await console.type("exit\r")
                try await console.waitUntilClosed()
            }
            #expect(third.events.first?["type"] as? String == "opened")
        }
    }

    @Test func aTamperedRecordingIsFound() async throws {
        try await withConsoleFixture { name, port, client, app in
            let admin = try await signIn(client, as: "bt-admin")
            _ = try await console(port: port, browser: admin, container: name) { console in
                try await console.waitForPrompt()
                try await console.type("echo untouched; exit\r")
                try await console.waitUntilClosed()
            }
            let database = try AppDatabase.open(path: app.configuration.databasePath)
            let before = try await database.verifyConsoleRecordings()
            #expect(before.count == 1 && before[0].problem == nil)
            let intact = try BerthCommandLine.run(["audit", "verify", "--database", app.configuration.databasePath])
            #expect(intact.status == 0 && intact.output.contains("1 console recording matches its audit row"), "\(intact.output)")
            // Someone with the file rewrites the text: it no longer matches the hash the audit rows hold.
            let id = before[0].id
            var forged = ByteBuffer(string: "{\"version\": 2}\n[0.1, \"o\", \"nothing happened\"]\n")
            let compressed = Data(try forged.compress(with: .zlib()).readableBytesView)
            let file = try DatabaseQueue(path: app.configuration.databasePath)
            try await file.write { db in
                try db.execute(sql: "DELETE FROM consoleChunk WHERE recordingId = ?", arguments: [id])
                try db.execute(sql: "INSERT INTO consoleChunk (recordingId, seq, data) VALUES (?, 0, ?)", arguments: [id, compressed])
            }
            let after = try await database.verifyConsoleRecordings()
            #expect(after.count == 1 && after[0].problem?.contains("does not match its hash") == true)
            // And so does the recording's own hash column, rewritten to match: the audit row's hash is what counts.
            try await file.write { db in
                try db.execute(sql: "UPDATE consoleRecording SET sha256 = 'forged' WHERE id = ?", arguments: [id])
            }
            // What an auditor runs: the chain is intact, the recording is not.
            let verify = try BerthCommandLine.run(["audit", "verify", "--database", app.configuration.databasePath])
            #expect(verify.status == 1, "\(verify.output)")
            #expect(verify.output.contains("recording #\(id) does not match its hash in audit row"), "\(verify.output)")
        }
    }
}

// MARK: - A console client, as the page's script is one

/// A running busybox container (its name) and the app as `berth serve` serves it: where every console test starts.
func withConsoleFixture(
    configure: (inout AppConfiguration) -> Void = { _ in },
    _ body: @Sendable (_ container: String, _ port: Int, _ client: any TestClientProtocol, _ app: TestApp) async throws -> Void
) async throws {
    try await TestEngine.withContainers { _, scope in
        let name = TestEngine.uniqueName("console")
        try await scope.busybox(["sleep", "300"], name: name)
        try await withServedApp(configure: configure) { port, client, app in
            try await body(name, port, client, app)
        }
    }
}


/// What a console's WebSocket brought: the terminal's output and the JSON events.
struct ConsoleTranscript: Sendable {
    var bytes: [UInt8] = []
    var eventTexts: [String] = []
    var closed = false

    var output: String { String(decoding: bytes, as: UTF8.self) }
    var events: [[String: Any]] {
        eventTexts.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

/// Drives one console: types, resizes, and waits for what the terminal shows. Its waits are bounds, not measurements:
/// in the parallel run a single engine call has taken 30 s, and a wait returns as soon as what it waits for is there.
final class ConsoleDriver: Sendable {
    private let writer = NIOLockedValueBox<TestWebSocket.Writer?>(nil)
    private let state = NIOLockedValueBox(ConsoleTranscript())
    /// Busybox's prompts answered (it asks where the cursor is before each).
    private let prompts = NIOLockedValueBox(0)
    /// The prompts counted when `waitForPrompt` last returned.
    private let promptsWaitedFor = NIOLockedValueBox(0)

    func attach(_ writer: TestWebSocket.Writer) { self.writer.withLockedValue { $0 = writer } }

    private func outbound() throws -> TestWebSocket.Writer {
        guard let writer = writer.withLockedValue({ $0 }) else { throw TestSetupError("no connection") }
        return writer
    }

    var transcript: ConsoleTranscript { state.withLockedValue { $0 } }

    func received(binary: Bool, _ bytes: ByteBuffer, _ writer: TestWebSocket.Writer) async throws {
        if binary {
            state.withLockedValue { $0.bytes.append(contentsOf: bytes.readableBytesView) }
            if String(buffer: bytes).contains("\u{1B}[6n") {
                try await writer.binary("\u{1B}[1;1R")
                prompts.withLockedValue { $0 += 1 }
            }
        } else {
            state.withLockedValue { $0.eventTexts.append(String(buffer: bytes)) }
        }
    }

    func finished() { state.withLockedValue { $0.closed = true } }

    func type(_ text: String) async throws {
        try await outbound().binary(text)
    }

    /// Closes the connection as a page that goes away does.
    func close() async throws {
        try await outbound().close()
    }

    func resize(columns: Int, rows: Int) async throws {
        try await outbound().text("{\"type\":\"resize\",\"cols\":\(columns),\"rows\":\(rows)}")
    }

    /// Waits for a prompt newer than the last one waited for. Typing before busybox has its answer to the cursor
    /// question loses the typing: the shell reads it as the answer (a run once lost a command typed right after the
    /// output before the prompt).
    func waitForPrompt(timeout: Duration = .seconds(60)) async throws {
        let seen = promptsWaitedFor.withLockedValue { $0 }
        try await wait("a prompt", timeout: timeout) { [prompts] _ in prompts.withLockedValue { $0 } > seen }
        promptsWaitedFor.withLockedValue { $0 = prompts.withLockedValue { $0 } }
        // The answer to the cursor question has to reach the shell before typing.
        try await Task.sleep(for: .milliseconds(100))
    }

    func waitFor(_ text: String, timeout: Duration = .seconds(60)) async throws {
        try await wait("\"\(text)\"", timeout: timeout) { $0.output.contains(text) }
    }

    func waitUntilClosed(timeout: Duration = .seconds(60)) async throws {
        try await wait("the console to close", timeout: timeout) { $0.closed }
    }

    func wait(_ what: String, timeout: Duration, _ condition: @Sendable (ConsoleTranscript) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(transcript) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        let seen = transcript
        throw TestSetupError("waited \(timeout) for \(what); output: \(seen.output.suffix(400).debugDescription), events: \(seen.eventTexts)")
    }
}

/// Opens a console as the page does (same origin, session cookie, CSRF token as a subprotocol), runs `scenario`,
/// and returns what came back once the server closed the connection.
func console(
    port: Int, browser: Browser, container: String, query: String = "", origin: String? = nil, tls: Bool = false,
    _ scenario: @escaping @Sendable (ConsoleDriver) async throws -> Void
) async throws -> ConsoleTranscript {
    let headers = [
        ("Cookie", browser.cookie),
        ("Origin", origin ?? "\(tls ? "https" : "http")://127.0.0.1:\(port)"),
        ("Sec-WebSocket-Protocol", "berth.console, berth.csrf.\(browser.csrfToken)"),
    ]
    let socket = try await TestWebSocket.connect(
        port: port, path: "/containers/\(container)/console/socket" + (query.isEmpty ? "" : "?\(query)"), headers: headers,
        tls: tls
    )
    let driver = ConsoleDriver()
    try await socket.run(
        onMessage: { binary, data, writer in try await driver.received(binary: binary, data, writer) },
        onClose: { driver.finished() }
    ) { writer in
        driver.attach(writer)
        try await scenario(driver)
    }
    driver.finished()
    return driver.transcript
}

func parameters(of event: AuditEvent) throws -> [String: String] {
    let json = try #require(event.parameters)
    return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
}

/// `[seconds, code, data]`.
func asciicastEvent(_ line: Substring) -> (code: String, data: String)? {
    guard let array = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [Any], array.count == 3,
          let code = array[1] as? String, let data = array[2] as? String
    else { return nil }
    return (code, data)
}
