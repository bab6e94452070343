import EngineAPI
import Testing

@Suite struct LogLineAssemblerTests {
    let stamp1 = "2026-11-22T21:47:23.123456789Z"
    let stamp2 = "2026-11-22T21:47:23.223456789Z"

    func message(_ text: String, stream: LogStreamKind = .stdout, start: Bool = true) -> LogFrame {
        LogFrame(stream: stream, bytes: Array(text.utf8), startsMessage: start)
    }

    @Test func linesOfEachStreamAreJoinedApart() {
        var assembler = LogLineAssembler(timestamps: false)
        var lines = assembler.feed(message("out one\nout ", stream: .stdout))
        lines += assembler.feed(message("err\n", stream: .stderr))
        lines += assembler.feed(message("two\n", stream: .stdout, start: false))
        #expect(lines == [
            LogLine(stream: .stdout, text: "out one"), LogLine(stream: .stderr, text: "err"), LogLine(stream: .stdout, text: "out two"),
        ])
    }

    @Test func theEnginesSixteenKiBPiecesBecomeOneLineWithTheFirstTimestamp() {
        var assembler = LogLineAssembler(timestamps: true)
        let first = String(repeating: "a", count: 16 * 1024)
        let second = String(repeating: "b", count: 100)
        var lines = assembler.feed(message("\(stamp1) \(first)"))
        #expect(lines.isEmpty)
        // The continuation's own timestamp arrives cut in two reads.
        lines += assembler.feed(message(String(stamp2.prefix(10))))
        lines += assembler.feed(message(String(stamp2.dropFirst(10)) + " \(second)\n", start: false))
        #expect(lines.count == 1)
        #expect(lines.first?.text == first + second)
        #expect(lines.first?.timestamp == LogTimestamp(stamp1))
        #expect(lines.first?.truncated == false)
    }

    @Test func anEndlessLineIsCutAtTheLimitAndMarked() {
        var assembler = LogLineAssembler(timestamps: false, lineLimit: 1000)
        var lines: [LogLine] = []
        for _ in 0..<50 { lines += assembler.feed(message(String(repeating: "x", count: 100), start: false)) }
        lines += assembler.feed(message("tail\nnext line\n", start: false))
        #expect(lines.count == 2)
        #expect(lines[0].text.utf8.count == 1000)
        #expect(lines[0].truncated)
        #expect(lines[1] == LogLine(stream: .stdout, text: "next line"))
    }

    @Test func invalidUTF8BecomesReplacementCharactersAndCarriageReturnsGo() {
        var assembler = LogLineAssembler(timestamps: false)
        let lines = assembler.feed(LogFrame(stream: .tty, bytes: [0x61, 0xff, 0x62, 0x0d, 0x0a]))
        #expect(lines == [LogLine(stream: .tty, text: "a\u{FFFD}b")])
    }

    @Test func rawTTYOutputWithTimestampsStartsAMessageAfterEachNewline() {
        var assembler = LogLineAssembler(timestamps: true)
        let lines = assembler.feed(LogFrame(stream: .tty, bytes: Array("\(stamp1) one\r\n\(stamp2) two\r\n".utf8)))
        #expect(lines.map(\.text) == ["one", "two"])
        #expect(lines.map(\.timestamp) == [LogTimestamp(stamp1), LogTimestamp(stamp2)])
    }

    @Test func aLastLineWithoutNewlineComesAtTheEnd() {
        var assembler = LogLineAssembler(timestamps: true)
        #expect(assembler.feed(message("\(stamp1) no newline")).isEmpty)
        #expect(assembler.finish() == [LogLine(stream: .stdout, timestamp: LogTimestamp(stamp1), text: "no newline")])
    }

    @Test func timestampsParseExactlyAndRoundTripTheEnginesSinceForm() throws {
        let stamp = try #require(LogTimestamp("2026-11-22T21:47:23.000000042Z"))
        #expect(stamp.seconds == 1_795_384_043)
        #expect(stamp.nanoseconds == 42)
        #expect(stamp.description == "1795384043.000000042")
        #expect(LogTimestamp(parsingEngineForm: "1795384043.000000042") == stamp)
        #expect(LogTimestamp("2026-11-22T22:47:23.000000042+01:00") == stamp)
        #expect(LogTimestamp("1970-01-01T00:00:00Z") == LogTimestamp(seconds: 0, nanoseconds: 0))
        #expect(LogTimestamp("not a time") == nil)
        var written: [UInt8] = []
        stamp.write(into: &written)
        #expect(String(decoding: written, as: UTF8.self) == stamp.description)
        #expect(try #require(LogTimestamp(stamp1)) < #require(LogTimestamp(stamp2)))
    }
}
