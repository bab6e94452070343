@testable import EngineAPI
import NIOCore
import Testing

@Suite struct StreamedResponseDecoderTests {
    struct Decoded: Equatable {
        var head: StreamedResponseHead?
        var body: [UInt8]
        var complete: Bool
    }

    /// Feeds `bytes` cut into reads at the given offsets.
    func decode(_ bytes: [UInt8], cuts: [Int]) throws -> Decoded {
        var decoder = StreamedResponseDecoder()
        var body = ByteBuffer()
        var head: StreamedResponseHead?
        var start = 0
        for cut in cuts + [bytes.count] where cut > start {
            if let got = try decoder.feed(ByteBuffer(bytes: bytes[start..<cut]), body: &body) {
                #expect(head == nil, "the head came twice")
                head = got
            }
            start = cut
        }
        return Decoded(head: head, body: Array(body.readableBytesView), complete: decoder.isComplete)
    }

    func chunked(_ pieces: [String], extensions: String = "", trailer: String = "") -> [UInt8] {
        var text = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        for piece in pieces { text += String(piece.utf8.count, radix: 16) + extensions + "\r\n" + piece + "\r\n" }
        text += "0\r\n" + trailer + "\r\n"
        return Array(text.utf8)
    }

    @Test func chunkedBodyCutAtEveryByte() throws {
        let pieces = ["hello ", "world\n", String(repeating: "x", count: 300), "é\u{1F600}"]
        let bytes = chunked(pieces)
        let whole = try decode(bytes, cuts: [])
        #expect(whole.head?.status == 200)
        #expect(whole.head?.framing == .chunked)
        #expect(whole.body == Array(pieces.joined().utf8))
        #expect(whole.complete)
        for cut in 1..<bytes.count {
            #expect(try decode(bytes, cuts: [cut]) == whole, "cut at \(cut)")
        }
        // A read per byte.
        #expect(try decode(bytes, cuts: Array(1..<bytes.count)) == whole)
    }

    @Test func chunkExtensionsAndTrailersAreSkipped() throws {
        let bytes = chunked(["abc", "defg"], extensions: ";name=value", trailer: "X-Trailer: 1\r\n")
        let decoded = try decode(bytes, cuts: [70, 71, 90])
        #expect(decoded.body == Array("abcdefg".utf8))
        #expect(decoded.complete)
    }

    @Test func uppercaseHexSizes() throws {
        let text = "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n1A\r\n" + String(repeating: "z", count: 26) + "\r\n0\r\n\r\n"
        let decoded = try decode(Array(text.utf8), cuts: [])
        #expect(decoded.body.count == 26)
        #expect(decoded.complete)
    }

    @Test func contentLengthBody() throws {
        let text = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"message\":\"No such thing\"}\n\nextra"
        let bytes = Array(text.utf8)
        for cut in [0, 10, 60, 80, bytes.count - 3] {
            let decoded = try decode(bytes, cuts: cut == 0 ? [] : [cut])
            #expect(decoded.head == StreamedResponseHead(status: 404, reason: "Not Found", framing: .length(29)))
            #expect(String(decoding: decoded.body, as: UTF8.self) == "{\"message\":\"No such thing\"}\n\n")
            #expect(decoded.complete)
        }
    }

    @Test func bodyUntilCloseWithoutFraming() throws {
        var decoder = StreamedResponseDecoder()
        var body = ByteBuffer()
        let head = try decoder.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\nsome"), body: &body)
        #expect(head?.framing == .untilClose)
        _ = try decoder.feed(ByteBuffer(string: " bytes"), body: &body)
        #expect(String(buffer: body) == "some bytes")
        #expect(!decoder.isComplete)
        try decoder.finish()
    }

    @Test func noBodyStatuses() throws {
        let decoded = try decode(Array("HTTP/1.1 304 Not Modified\r\n\r\n".utf8), cuts: [])
        #expect(decoded.head?.framing == .length(0))
        #expect(decoded.complete)
    }

    @Test func closedMidAnswerIsAnError() throws {
        let bytes = chunked(["abcdef"])
        for end in [5, 60, bytes.count - 9, bytes.count - 3] {
            var decoder = StreamedResponseDecoder()
            var body = ByteBuffer()
            _ = try decoder.feed(ByteBuffer(bytes: bytes[0..<end]), body: &body)
            #expect(throws: StreamedResponseError.self, "ended at \(end)") { try decoder.finish() }
        }
    }

    @Test func malformedAnswersAreRefused() {
        let answers = [
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
        ]
        for answer in answers {
            #expect(throws: StreamedResponseError.self, "\(answer.debugDescription)") {
                _ = try decode(Array(answer.utf8), cuts: [])
            }
        }
    }

    @Test func endlessHeadIsRefused() {
        var decoder = StreamedResponseDecoder()
        var body = ByteBuffer()
        #expect(throws: StreamedResponseError.self) {
            _ = try decoder.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), body: &body)
            for _ in 0..<100 {
                _ = try decoder.feed(ByteBuffer(string: "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n"), body: &body)
            }
        }
    }
}
