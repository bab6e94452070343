@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Log, event and stats streams read as a browser reads them, from a real listening Berth and a real engine.
@Suite struct LiveStreamTests {
    @Test func aFollowedLogArrivesLineByLineWhileTheContainerRuns() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sh", "-c", "i=0; while [ $i -lt 600 ]; do echo line $i; i=$((i+1)); usleep 100000; done"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)", as: browser)
                defer { stream.close() }
                #expect(stream.status == 200)
                let headers = Dictionary(stream.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { a, _ in a })
                #expect(headers["content-type"]?.hasPrefix("text/event-stream") == true)
                #expect(headers["cache-control"] == "no-cache")
                #expect(headers["x-accel-buffering"] == "no")
                let (lines, _) = await collectLines(stream) { $0.count >= 5 }
                #expect(lines.prefix(5).map(\.text) == (0..<5).map { "line \($0)" })
                // Live, not at the end: the container is still writing.
                #expect(try await engine.inspectContainer(id).state?.running == true)
                #expect(lines.allSatisfy { $0.stream == "stdout" && $0.container == String(id.prefix(12)) })
                // Viewers may read logs; opening the stream is audited.
                #expect(try await live.app.auditEvents().contains { $0.action == "container.logs" && $0.targetId == id && $0.actor == "bt-viewer" })
            }
        }
    }

    @Test func tailAndStreamsAreHonoured() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sh", "-c", "for i in 1 2 3 4 5; do echo out$i; done; usleep 50000; echo err >&2; sleep 60"])
            // All written before the stream opens, however loaded the machine.
            var written = false
            for _ in 0..<300 {
                if try await engine.containerLogs(id).collect().stderrText == "err\n" { written = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(written, "the container wrote its lines within 30 s")
            // The engine's own last three lines. Its stdout and stderr copiers run apart, so on a loaded machine
            // "err" can be filed before the last "out" lines: the order to expect is the engine's.
            var engineTail: [(String, String)] = []
            var options = LogOptions()
            options.tail = 3
            for try await frame in try await engine.containerLogs(id, options: options) {
                let text = String(decoding: frame.bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
                engineTail.append((text, frame.stream == .stderr ? "stderr" : "stdout"))
            }
            try #require(engineTail.count == 3)
            let expectedTexts = engineTail.map(\.0)
            let expectedStreams = engineTail.map(\.1)
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)&tail=3", as: browser)
                defer { stream.close() }
                let (lines, _) = await collectLines(stream, timeout: .seconds(3)) { $0.count > 3 }
                #expect(lines.map(\.text) == expectedTexts)
                #expect(lines.map(\.stream) == expectedStreams)
                #expect(Set(lines.map(\.text)).isSubset(of: ["out3", "out4", "out5", "err"]))
                #expect(lines.contains { $0.text == "err" && $0.stream == "stderr" } || !expectedTexts.contains("err"))
            }
        }
    }

    @Test func aTTYContainersOutputIsReadRaw() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "echo tty says hi; sleep 60"], tty: true)
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)", as: browser)
                defer { stream.close() }
                let (lines, _) = await collectLines(stream) { !$0.isEmpty }
                #expect(lines.first?.text == "tty says hi")
                #expect(lines.first?.stream == "tty")
            }
        }
    }

    @Test func longLinesArriveWholeAndHugeOnesAreCutAndMarked() async throws {
        try await TestEngine.withContainers { _, scope in
            let script = "head -c 40960 /dev/zero | tr '\\0' a; echo; head -c 2097152 /dev/zero | tr '\\0' b; echo; echo after; sleep 60"
            let id = try await scope.busybox(["sh", "-c", script])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)", as: browser)
                defer { stream.close() }
                let (lines, _) = await collectLines(stream, timeout: .seconds(30)) { $0.count >= 3 }
                #expect(lines.count == 3)
                #expect(lines.first?.text == String(repeating: "a", count: 40960))
                #expect(lines.first?.truncated == false)
                #expect(lines.dropFirst().first?.text == String(repeating: "b", count: LogLineAssembler.defaultLineLimit))
                #expect(lines.dropFirst().first?.truncated == true)
                #expect(lines.last?.text == "after")
            }
        }
    }

    @Test func hostileOutputArrivesAsDataOnly() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "printf 'bad \\377\\376 utf8\\n'; printf 'x\\r\\n\\nevent: x\\nid: 9\\ndata: forged\\n'; echo done; sleep 60"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)", as: browser)
                defer { stream.close() }
                let (lines, events) = await collectLines(stream) { $0.last?.text == "done" }
                #expect(lines.map(\.text) == ["bad \u{FFFD}\u{FFFD} utf8", "x", "", "event: x", "id: 9", "data: forged", "done"])
                #expect(events.allSatisfy { $0.event == "logs" && $0.id != "9" })
            }
        }
    }

    @Test func aFastLogComesInFewLargeEventsWithEveryLineInOrder() async throws {
        try await TestEngine.withContainers { engine, scope in
            // Written before the stream opens: the engine then sends every line as its own chunk, as fast as it can.
            let id = try await scope.busybox(["sh", "-c", "i=1; while [ $i -le 5000 ]; do echo fast$i; i=$((i+1)); done; sleep 60"])
            var written = false
            for _ in 0..<300 {
                var options = LogOptions()
                options.tail = 1
                if try await engine.containerLogs(id, options: options).collect().stdoutText == "fast5000\n" { written = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(written, "the container wrote its lines within 30 s")
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)&tail=all", as: browser)
                defer { stream.close() }
                let (lines, events) = await collectLines(stream, timeout: .seconds(30)) { $0.last?.text == "fast5000" }
                #expect(lines.map(\.text) == (1...5000).map { "fast\($0)" })
                // Lines read while the writer is busy or gathering share an event: far fewer events than lines.
                #expect(events.filter { $0.event == "logs" }.count * 5 < lines.count)
            }
        }
    }

    @Test func aReconnectWithLastEventIDLosesNoLineAndRepeatsNone() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "i=1; while [ $i -le 80 ]; do echo n$i; i=$((i+1)); usleep 30000; done; sleep 60"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let first = try await live.open("/logs/stream?container=\(id)", as: browser)
                let (before, _) = await collectLines(first) { $0.count >= 15 }
                first.close()
                let lastID = try #require(before.last?.eventID)
                try await Task.sleep(for: .milliseconds(700))
                let second = try await live.open("/logs/stream?container=\(id)", as: browser, lastEventID: lastID)
                defer { second.close() }
                let (after, _) = await collectLines(second) { $0.last?.text == "n80" }
                let all = (before + after).map(\.text)
                #expect(all == (1...80).map { "n\($0)" })
            }
        }
    }

    /// The reviewers' reproduction: a `Last-Event-ID` in the future silenced a log stream for good, and an events
    /// stream after one resync.
    @Test func aPositionInTheFutureGivesAResyncAndTheLiveTail() async throws {
        let future = "\(Int64(Date().timeIntervalSince1970) + 365 * 86_400).000000000"
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "echo before; sleep 2; echo after; sleep 60"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let logs = try await live.open("/logs/stream?container=\(id)", as: browser, lastEventID: "\(id.prefix(12))=\(future)~1")
                defer { logs.close() }
                let (lines, events) = await collectLines(logs) { $0.contains { $0.text == "after" } }
                #expect(lines.map(\.text).suffix(2) == ["before", "after"])
                #expect(events.contains { $0.event == "status" && ($0.json?["state"] as? String) == "resync" })

                let engineEvents = try await live.open("/events/stream?type=container", as: browser, lastEventID: future)
                defer { engineEvents.close() }
                #expect(await engineEvents.next("resync", timeout: .seconds(5)) != nil)
                let started = try await scope.busybox(["true"])
                // Other tests' containers may speak first.
                var seen = false
                while !seen, let event = await engineEvents.next("event", timeout: .seconds(10)) {
                    seen = (event.found.json?["id"] as? String) == started
                }
                #expect(seen, "live events flow after the resync")
            }
        }
    }

    /// Past `--max-engine-streams` a followed log waits for a free engine connection, and its page says so; what was
    /// logged before still shows (catching up keeps a slot of its own).
    @Test func aLogPastTheEngineStreamCapWaitsAndSaysSo() async throws {
        try await TestEngine.withContainers { _, scope in
            let first = try await scope.busybox(["sh", "-c", "echo one; sleep 60"])
            let second = try await scope.busybox(["sh", "-c", "echo two; sleep 60"])
            // Two slots: one for a followed log, one kept for catching up.
            try await withLiveStreamApp(configure: { $0.maxEngineStreams = 2 }) { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let logs = try await live.open("/logs/stream?container=\(first)&container=\(second)", as: browser)
                defer { logs.close() }
                let (lines, events) = await collectLines(logs) { lines in
                    Set(lines.map(\.text)) == ["one", "two"]
                }
                #expect(Set(lines.map(\.text)) == ["one", "two"])
                func saysTheFollowedLogWaits(_ event: ReceivedEvent) -> Bool {
                    (event.json?["state"] as? String) == "waiting"
                        && (event.json?["message"] as? String)?.contains("as many logs at once as it may (1)") == true
                }
                var statuses = events.filter { $0.event == "status" }
                while !statuses.contains(where: saysTheFollowedLogWaits), let status = await logs.next("status", timeout: .seconds(10)) {
                    statuses.append(status.found)
                }
                #expect(statuses.contains(where: saysTheFollowedLogWaits), "\(statuses.map(\.data))")
                #expect(live.streams.open.openStreams == 1)
                #expect(live.streams.tails.activeTopics == 2)
            }
        }
    }

    @Test func severalContainersMergeIntoOneStreamTaggedByContainer() async throws {
        try await TestEngine.withContainers { _, scope in
            let one = try await scope.busybox(["sh", "-c", "echo from-one; sleep 60"])
            let two = try await scope.busybox(["sh", "-c", "echo from-two >&2; sleep 60"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(one)&container=\(two)", as: browser)
                defer { stream.close() }
                let (lines, _) = await collectLines(stream) { $0.count >= 2 }
                #expect(Set(lines.map { "\($0.container) \($0.stream) \($0.text)" }) == [
                    "\(one.prefix(12)) stdout from-one", "\(two.prefix(12)) stderr from-two",
                ])
            }
        }
    }

    /// A page that goes away (its tab closed: the browser closes the connection) gives back its stream, and the engine
    /// stream behind it, at once: not at the next heartbeat, when a write would first fail.
    @Test func aPageThatGoesAwayReleasesItsStreamAtOnce() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "echo hello; sleep 60"])
            try await withLiveStreamApp(heartbeat: .seconds(60)) { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let port = try #require(URL(string: live.base)?.port)
                func received(_ page: RawConnection, _ text: String) async throws -> Bool {
                    var bytes: [UInt8] = []
                    for _ in 0..<150 {
                        bytes += page.receiveNow() ?? []
                        if String(decoding: bytes, as: UTF8.self).contains(text) { return true }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return false
                }
                // An events page, which then hears nothing: its tab closing is a plain FIN, which the server sees as
                // the client closing its side.
                let events = try RawConnection.eventStream(port: port, path: "/events/stream", cookie: browser.cookie)
                #expect(try await received(events, "stream open"))
                let logs = try RawConnection.eventStream(port: port, path: "/logs/stream?container=\(id)", cookie: browser.cookie)
                #expect(try await received(logs, "hello"))
                #expect(live.streams.open.openStreams == 2)
                #expect(live.streams.tails.activeTopics == 1)
                events.close()
                logs.close()
                for _ in 0..<50 where live.streams.open.openStreams > 0 || live.streams.tails.activeTopics > 0 {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(live.streams.open.openStreams == 0)
                #expect(live.streams.tails.activeTopics == 0)
            }
        }
    }

    @Test func removingTheFollowedContainerEndsTheStreamCleanly() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sh", "-c", "echo hello; sleep 60"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)", as: browser)
                defer { stream.close() }
                _ = await collectLines(stream) { !$0.isEmpty }
                try await engine.removeContainer(id, force: true)
                let ended = try #require(await stream.next("ended"))
                #expect(ended.found.json?["reason"] as? String == "The container was removed.")
                let end = try #require(await stream.next("end"))
                #expect(end.found.json?["final"] as? Bool == true)
                // The server closes the response after its final event: soon, however loaded the machine (a fixed
                // 300 ms wait failed a CI run whose sign-ins took 9 s).
                for _ in 0..<100 where !stream.isEnded { try await Task.sleep(for: .milliseconds(100)) }
                #expect(stream.isEnded)
            }
        }
    }

    @Test func aContainerThatKeepsNoLogsSaysSo() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "echo lost; sleep 60"], logConfig: LogConfig(type: "none"))
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/logs/stream?container=\(id)", as: browser)
                defer { stream.close() }
                let ended = try #require(await stream.next("ended", timeout: .seconds(5)))
                #expect((ended.found.json?["reason"] as? String)?.contains("\"none\"") == true)
                #expect(await stream.next("end", timeout: .seconds(5)) != nil)
            }
        }
    }

    @Test func signingOutClosesTheUsersStreams() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "echo hello; sleep 60"])
            try await withLiveStreamApp(heartbeat: .seconds(30)) { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let logs = try await live.open("/logs/stream?container=\(id)", as: browser)
                let events = try await live.open("/events/stream", as: browser)
                defer { logs.close(); events.close() }
                _ = await collectLines(logs) { !$0.isEmpty }
                let out = try await live.client.execute(uri: "/logout", method: .post, headers: browser.postHeaders(), body: formBody([("_csrf", browser.csrfToken)]))
                #expect(out.status == .seeOther)
                // Far sooner than the 30 s heartbeat.
                let logsEnd = try #require(await logs.next("end", timeout: .seconds(3)))
                #expect(logsEnd.found.json?["reason"] as? String == "You signed out.")
                #expect(await events.next("end", timeout: .seconds(3)) != nil)
                // And the browser can't come back without signing in.
                let again = try await live.open("/logs/stream?container=\(id)", as: browser)
                #expect(again.status == 401)
            }
        }
    }

    /// An open stream is its connection's (``StreamConnectionWriter``: Hummingbird's task for the connection ended when
    /// the stream was handed over). When it ends, its connection finishes the response — the last event, the chunked
    /// body's end — and closes; nothing else is written after it (no error page from the task that left).
    @Test func anEndedStreamFinishesItsResponseAndClosesItsConnection() async throws {
        try await withLiveStreamApp(heartbeat: .seconds(30)) { live in
            let browser = try await signIn(live.client, as: "bt-viewer")
            let port = try #require(URL(string: live.base)?.port)
            let events = try RawConnection.eventStream(port: port, path: "/events/stream", cookie: browser.cookie)
            defer { events.close() }
            var opening = ""
            for _ in 0..<100 where !opening.contains("stream open") {
                opening += String(decoding: events.receiveNow() ?? [], as: UTF8.self)
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(opening.hasPrefix("HTTP/1.1 200"), "\(opening)")
            #expect(opening.lowercased().contains("transfer-encoding: chunked"))
            #expect(opening.lowercased().contains("connection: close"), "no client may count on reusing it")
            let out = try await live.client.execute(
                uri: "/logout", method: .post, headers: browser.postHeaders(), body: formBody([("_csrf", browser.csrfToken)])
            )
            #expect(out.status == .seeOther)
            let rest = try #require(try await events.readUntilClosed(timeout: .seconds(5)), "the connection stayed open")
            #expect(rest.contains("event: end"))
            #expect(rest.contains("You signed out."))
            #expect(rest.hasSuffix("\r\n0\r\n\r\n"), "the chunked body ends last: \(rest.suffix(80).debugDescription)")
            #expect(live.streams.open.openStreams == 0)
        }
    }

    @Test func manyOpenStreamsDoNotBlockPages() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "echo hello; sleep 60"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                var streams: [EventStreamConnection] = []
                defer { for stream in streams { stream.close() } }
                for _ in 0..<12 { streams.append(try await live.open("/logs/stream?container=\(id)", as: browser)) }
                for stream in streams { #expect(await stream.next("logs") != nil) }
                let started = ContinuousClock.now
                let page = try await live.client.execute(uri: "/containers", method: .get, headers: browser.getHeaders)
                #expect(page.status == .ok)
                #expect(ContinuousClock.now - started < .seconds(5))
            }
        }
    }

    @Test func aStreamWithoutASessionIs401() async throws {
        try await withLiveStreamApp { live in
            for path in ["/logs/stream?container=x", "/events/stream", "/containers/x/stats/stream"] {
                let stream = try await live.open(path, as: nil)
                #expect(stream.status == 401, "\(path)")
                stream.close()
            }
        }
    }

    @Test func statsArriveWithTheNumbersDockerStatsShows() async throws {
        try await TestEngine.withContainers { _, scope in
            let id = try await scope.busybox(["sh", "-c", "while :; do :; done"])
            try await withLiveStreamApp { live in
                let browser = try await signIn(live.client, as: "bt-viewer")
                let stream = try await live.open("/containers/\(id)/stats/stream", as: browser)
                defer { stream.close() }
                var cpu: Double?
                var memory: Double?
                // The engine sends a sample a second; the first has no CPU figure yet (nothing to compare with).
                let deadline = ContinuousClock.now + .seconds(20)
                while cpu == nil, ContinuousClock.now < deadline {
                    guard let sample = await stream.next("stats", timeout: .seconds(10))?.found.json else { break }
                    cpu = sample["cpu"] as? Double
                    memory = sample["memory"] as? Double
                }
                // A busy loop uses a whole CPU, give or take a loaded test machine.
                #expect(try #require(cpu) > 5)
                #expect(try #require(memory) > 0)
            }
        }
    }
}
