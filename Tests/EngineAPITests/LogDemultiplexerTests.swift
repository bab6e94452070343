import EngineAPI
import NIOCore
import Testing

@Suite struct LogDemultiplexerTests {
    func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let n = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
    }

    /// Feeds `bytes` cut at every given offset and returns what came out, merged per stream in order.
    func run(_ bytes: [UInt8], cuts: [Int]) -> [LogFrame] {
        var demux = LogDemultiplexer()
        var frames: [LogFrame] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            frames += demux.feed(ByteBuffer(bytes: bytes[start..<cut]))
            start = cut
        }
        #expect(!demux.isMidFrame)
        // Merge adjacent pieces of one stream so results compare independent of where reads were cut.
        var merged: [LogFrame] = []
        for frame in frames {
            if let last = merged.last, last.stream == frame.stream {
                merged[merged.count - 1].bytes += frame.bytes
            } else {
                merged.append(LogFrame(stream: frame.stream, bytes: frame.bytes))
            }
        }
        return merged
    }

    @Test func splitsStdoutFromStderr() {
        let bytes = frame(1, "out\n") + frame(2, "err\n") + frame(1, "more\n")
        let frames = run(bytes, cuts: [])
        #expect(frames == [
            LogFrame(stream: .stdout, bytes: Array("out\n".utf8)),
            LogFrame(stream: .stderr, bytes: Array("err\n".utf8)),
            LogFrame(stream: .stdout, bytes: Array("more\n".utf8)),
        ])
    }

    @Test func headersCutAtEveryOffsetGiveTheSameFrames() {
        let bytes = frame(1, "hello\n") + frame(2, "world\n") + frame(1, "!")
        let expected = run(bytes, cuts: [])
        for cut in 1..<bytes.count {
            #expect(run(bytes, cuts: [cut]) == expected, "cut at \(cut)")
        }
        // One byte at a time.
        #expect(run(bytes, cuts: Array(1..<bytes.count)) == expected)
    }

    @Test func zeroLengthFramesAndUnknownStreamsLoseNothing() {
        let bytes = frame(1, "") + frame(7, "odd") + frame(1, "") + frame(1, "x")
        #expect(run(bytes, cuts: [3, 9]) == [
            LogFrame(stream: .unknown(7), bytes: Array("odd".utf8)),
            LogFrame(stream: .stdout, bytes: Array("x".utf8)),
        ])
    }

    @Test func aHugeFrameIsPassedOnAsItArrives() {
        // The header claims 1 GiB; the payload must come out piece by piece, not wait for the whole.
        var demux = LogDemultiplexer()
        let header: [UInt8] = [1, 0, 0, 0, 0x40, 0, 0, 0]
        #expect(demux.feed(ByteBuffer(bytes: header)).isEmpty)
        let piece = demux.feed(ByteBuffer(bytes: Array(repeating: UInt8(ascii: "a"), count: 4096)))
        #expect(piece == [LogFrame(stream: .stdout, bytes: Array(repeating: UInt8(ascii: "a"), count: 4096), startsMessage: true)])
        #expect(demux.isMidFrame)
        let next = demux.feed(ByteBuffer(bytes: [UInt8(ascii: "b")]))
        #expect(next == [LogFrame(stream: .stdout, bytes: [UInt8(ascii: "b")], startsMessage: false)])
    }

    @Test func eachFrameOfOneStreamStartsAMessageEvenWithinOneRead() {
        var demux = LogDemultiplexer()
        let pieces = demux.feed(ByteBuffer(bytes: frame(1, "part one ") + frame(1, "part two\n")))
        #expect(pieces.map(\.startsMessage) == [true, true])
        #expect(pieces.map(\.text) == ["part one ", "part two\n"])
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        let frame = LogFrame(stream: .stdout, bytes: [0x61, 0xff, 0x62])
        #expect(frame.text == "a\u{FFFD}b")
    }
}
