@testable import BerthWeb
import EngineAPI
import Foundation
import NIOCore
import Testing

/// The log stream's hot path: lines kept as bytes, escaped into JSON straight from them, merged while the page reads.
@Suite struct LogStreamEncodingTests {
    /// What the bytes must become: decoded with U+FFFD for invalid UTF-8, then escaped scalar by scalar.
    func reference(_ bytes: [UInt8]) -> [UInt8] {
        var json = "\""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20: json += String(format: "\\u%04x", scalar.value)
            default: json.unicodeScalars.append(scalar)
            }
        }
        return Array((json + "\"").utf8)
    }

    /// Compared as bytes: `String`'s `==` would take canonically equivalent text for equal.
    func escaped(_ bytes: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        bytes.withUnsafeBufferPointer { JSONEscaping.writeString($0, to: &buffer) }
        return Array(buffer.readableBytesView)
    }

    @Test func escapingFromBytesMatchesDecodingThenEscaping() {
        let cases: [[UInt8]] = [
            [], Array("plain text".utf8), Array("quote \" backslash \\ tab \t cr \r lf \n bell \u{07} del \u{7F}".utf8),
            Array("café ☕ 😀 \u{2028}".utf8),
            [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80], [0xE2, 0x82], [0xE2, 0x82, 0x41],
            [0x61, 0xFF, 0xFE, 0x62], [0xF0, 0x9F, 0x98], [0x80], [0xE0, 0x9F, 0x80], [0xEF, 0xBF, 0xBD],
        ]
        for bytes in cases {
            #expect(escaped(bytes) == reference(bytes), "\(bytes)")
        }
        // One byte that needs care at every place of a clean run (the clean part is skipped eight bytes at a time).
        for length in 1..<40 {
            for place in 0..<length {
                for special: UInt8 in [0x00, 0x0A, 0x1F, 0x20, 0x21, 0x22, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xC3, 0xFF] {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[place] = special
                    #expect(escaped(bytes) == reference(bytes), "\(bytes)")
                }
            }
        }
        // Random bytes, biased towards what needs care: control bytes, quotes, lead and continuation bytes.
        var generator = SplitMix(seed: 42)
        let interesting: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x22, 0x5C, 0x41, 0x7F, 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0..<3000 {
            let count = Int(generator.next() % 40)
            let bytes = (0..<count).map { _ in
                generator.next() % 2 == 0 ? interesting[Int(generator.next() % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: generator.next())
            }
            #expect(escaped(bytes) == reference(bytes), "\(bytes)")
        }
    }

    @Test func aLogEventHoldsItsLinesAsDataOnlyAndItsPositionAsID() throws {
        var lines = LogBatch()
        let first = LogTimestamp(seconds: 1_795_384_043, nanoseconds: 42)
        let second = LogTimestamp(seconds: 1_795_384_044, nanoseconds: 0)
        lines.append(LogLine(stream: .stdout, timestamp: first, text: "one"))
        [UInt8]([0x62, 0xFF, 0x0A, 0x0A, 0x65, 0x76, 0x65, 0x6E, 0x74, 0x3A, 0x20, 0x78]).withUnsafeBufferPointer {
            lines.append(stream: .stderr, timestamp: second, bytes: $0, truncated: false)
        }
        lines.append(LogLine(stream: .stdout, timestamp: second, text: "id: 9\r\ndata: forged", truncated: true))
        lines.append(LogLine(stream: .tty, text: "raw"))
        let renderer = LogStreamRenderer(cursor: LogCursor(), containers: 1)
        let container = "0123456789abcdef0123"
        let event = try #require(renderer.render(.lines(container: container, lines)))
        let text = String(buffer: event.bytes)
        let fields = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(fields.count == 5)
        #expect(fields[0] == "event: logs")
        #expect(fields[1] == "id: 0123456789ab=1795384044.000000000~2")
        #expect(fields[2].hasPrefix("data: "))
        #expect(fields[3] == "" && fields[4] == "")
        let json = try #require(JSONSerialization.jsonObject(with: Data(fields[2].dropFirst(6).utf8)) as? [String: Any])
        let parsed = try #require(json["lines"] as? [[String: Any]])
        #expect(parsed.map { $0["x"] as? String } == ["one", "b\u{FFFD}\n\nevent: x", "id: 9\r\ndata: forged", "raw"])
        #expect(parsed.map { $0["s"] as? String } == ["stdout", "stderr", "stdout", "tty"])
        #expect(parsed.map { $0["c"] as? String } == Array(repeating: "0123456789ab", count: 4))
        #expect(parsed.map { $0["t"] as? String } == ["1795384043.000000042", "1795384044.000000000", "1795384044.000000000", nil])
        #expect(parsed.map { $0["truncated"] as? Bool } == [nil, nil, true, nil])
        // The next event goes on from this position.
        var more = LogBatch()
        more.append(LogLine(stream: .stdout, timestamp: second, text: "again"))
        let next = try #require(renderer.render(.lines(container: container, more)))
        #expect(String(buffer: next.bytes).hasPrefix("event: logs\nid: 0123456789ab=1795384044.000000000~3\n"))
    }

    @Test func timestampsAreWrittenAsTheEnginesSinceForm() {
        for stamp in [
            LogTimestamp(seconds: 0, nanoseconds: 0), LogTimestamp(seconds: 1_795_384_043, nanoseconds: 42),
            LogTimestamp(seconds: 9, nanoseconds: 999_999_999), LogTimestamp(seconds: Int64.max, nanoseconds: 1),
        ] {
            var buffer = ByteBuffer()
            stamp.write(into: &buffer)
            #expect(String(buffer: buffer) == stamp.description)
        }
    }

    func lines(_ texts: String...) -> LogStreamMessage {
        .lines(container: "c1", LogBatch(texts.map { LogLine(stream: .stdout, text: $0) }))
    }

    func texts(_ item: Mailbox<LogStreamMessage>.Item?) -> [String]? {
        guard case .element(.lines(_, let batch)) = item else { return nil }
        return batch.map(\.text)
    }

    @Test func linesQueuedWhileTheReaderIsBusyMergeInOrderAndWithinTheLimit() async {
        let mailbox = Mailbox<LogStreamMessage>(capacity: 2)
        // Four sends into a queue of two: merged, so none waits.
        for text in ["a", "b", "c", "d"] { #expect(await mailbox.send(lines(text), merge: LogStreamMessage.merge)) }
        #expect(texts(await mailbox.next()) == ["a", "b", "c", "d"])
        // Another container's lines, or a status, are not merged into them.
        _ = await mailbox.send(lines("e"), merge: LogStreamMessage.merge)
        _ = await mailbox.send(.lines(container: "c2", LogBatch([LogLine(stream: .stdout, text: "f")])), merge: LogStreamMessage.merge)
        #expect(texts(await mailbox.next()) == ["e"])
        #expect(texts(await mailbox.next()) == ["f"])
        // Nor past the size limit: a full queue then makes the producer wait (backpressure), losing nothing.
        let big = String(repeating: "x", count: LogStreamMessage.mergedBytesLimit / 2 + 1)
        let producer = Task {
            for _ in 0..<4 { _ = await mailbox.send(lines(big), merge: LogStreamMessage.merge) }
            mailbox.finish()
        }
        var received: [[String]] = []
        while let item = await mailbox.next() { received.append(texts(item) ?? []) }
        await producer.value
        #expect(received.flatMap { $0 }.count == 4)
        #expect(received.allSatisfy { $0.count == 1 })
    }

    /// A follower joins the shared tail where its catch-up ended: lines up to its position (the equal-stamped ones
    /// counted) are dropped, the rest kept, and a batch with nothing old is passed on untouched.
    @Test func thePositionFilterKeepsOnlyWhatThePageHasNotHad() {
        func stamp(_ nanos: Int32) -> LogTimestamp { LogTimestamp(seconds: 1_795_384_043, nanoseconds: nanos) }
        func batch(_ lines: [(Int32, String)]) -> LogBatch {
            LogBatch(lines.map { LogLine(stream: .stdout, timestamp: stamp($0.0), text: $0.1) })
        }
        // The catch-up sent a, b and c; b and c share a timestamp, so the position is (2, count 2).
        var position: LogPosition? = LogPosition(timestamp: stamp(2), count: 2)
        var filter = LogPositionFilter(resumePoint: position)
        var lines = batch([(1, "a"), (2, "b"), (2, "c"), (2, "d"), (3, "e")])
        filter.keepNew(&lines, position: &position)
        #expect(lines.map(\.text) == ["d", "e"])
        #expect(position == LogPosition(timestamp: stamp(3), count: 1))
        var later = batch([(4, "f")])
        filter.keepNew(&later, position: &position)
        #expect(later.map(\.text) == ["f"])

        // No line yet: what is stamped before the floor is old.
        var none: LogPosition?
        var floored = LogPositionFilter(resumePoint: nil, floor: stamp(5))
        var tail = batch([(4, "old"), (5, "new"), (6, "newer")])
        floored.keepNew(&tail, position: &none)
        #expect(tail.map(\.text) == ["new", "newer"])
        #expect(none == LogPosition(timestamp: stamp(6), count: 1))
    }
}

/// A small deterministic generator for the random cases.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
