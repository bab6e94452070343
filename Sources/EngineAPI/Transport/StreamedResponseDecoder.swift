import NIOCore

/// The status line and the few headers a streamed engine answer is read by.
struct StreamedResponseHead: Sendable, Equatable {
    var status: Int
    var reason: String
    /// How the body ends, from `Transfer-Encoding` and `Content-Length`.
    var framing: BodyFraming
}

enum BodyFraming: Sendable, Equatable {
    case chunked
    case length(Int)
    /// Neither header: the body runs until the engine closes the connection.
    case untilClose
}

/// What was wrong with the bytes of an answer.
struct StreamedResponseError: Error, Equatable, CustomStringConvertible {
    var description: String
}

/// Reads an HTTP/1.1 answer from the bytes of one connection as they arrive: the head once, then the body with its
/// chunked framing taken off.
///
/// The engine flushes every log message as a chunk of its own, so a fast log is tens of thousands of chunks a second.
/// A general HTTP client hands each chunk on as a message of its own; this hands on the body bytes of a whole socket
/// read at once, so the cost per log line is a few byte comparisons. Reads cut anywhere: in the head, in a chunk-size
/// line, between a chunk and its CRLF.
struct StreamedResponseDecoder {
    /// A head longer than this is not the engine's.
    static let headLimit = 64 * 1024

    private enum State {
        case head
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailer
        case lengthBody(remaining: Int)
        case untilClose
        case done
    }

    private var state = State.head
    /// Bytes of a head or a chunk-size / trailer line cut by a read boundary.
    private var pending: [UInt8] = []

    /// True once the body has ended by its framing (not by a closed connection).
    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes one read. Returns the head when this read completed it, and appends the body bytes it held to `body`.
    mutating func feed(_ input: ByteBuffer, body: inout ByteBuffer) throws(StreamedResponseError) -> StreamedResponseHead? {
        var input = input
        var head: StreamedResponseHead?
        while input.readableBytes > 0 {
            switch state {
            case .head:
                guard let block = try takeThroughBlankLine(&input) else { return head }
                let parsed = try Self.parseHead(block)
                head = parsed
                switch parsed.framing {
                case .chunked: state = .chunkSize
                case .length(0): state = .done
                case .length(let count): state = .lengthBody(remaining: count)
                case .untilClose: state = .untilClose
                }
            case .chunkSize:
                guard let line = try takeLine(&input) else { return head }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailer : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let left = Self.move(upTo: remaining, from: &input, to: &body)
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            case .chunkDataEnd:
                guard let line = try takeLine(&input) else { return head }
                guard line.isEmpty else { throw StreamedResponseError(description: "a chunk longer than its size") }
                state = .chunkSize
            case .trailer:
                // Trailer fields (the engine sends none) end with an empty line.
                guard let line = try takeLine(&input) else { return head }
                if line.isEmpty { state = .done }
            case .lengthBody(let remaining):
                let left = Self.move(upTo: remaining, from: &input, to: &body)
                state = left == 0 ? .done : .lengthBody(remaining: left)
            case .untilClose:
                body.writeBuffer(&input)
            case .done:
                // Bytes after the end of the answer: the connection is not reused, so they are dropped.
                return head
            }
        }
        return head
    }

    /// Called when the connection closed: an error unless the body was allowed to end there.
    func finish() throws(StreamedResponseError) {
        switch state {
        case .done, .untilClose: return
        case .head: throw StreamedResponseError(description: "the engine closed the connection before answering")
        default: throw StreamedResponseError(description: "the engine closed the connection in the middle of an answer")
        }
    }

    /// Moves up to `count` body bytes of this read into `body`; returns how many of `count` are still to come.
    private static func move(upTo count: Int, from input: inout ByteBuffer, to body: inout ByteBuffer) -> Int {
        let take = min(count, input.readableBytes)
        var slice = input.readSlice(length: take)!
        body.writeBuffer(&slice)
        return count - take
    }

    // MARK: - Lines

    /// The bytes up to a CRLF (without it), or nil when this read ends first (the part read is kept).
    private mutating func takeLine(_ input: inout ByteBuffer) throws(StreamedResponseError) -> [UInt8]? {
        let view = input.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            pending += view
            input.moveReaderIndex(to: input.writerIndex)
            if pending.count > 4096 { throw StreamedResponseError(description: "a chunk-size line that does not end") }
            return nil
        }
        var line = pending
        line += view[view.startIndex..<lf]
        pending.removeAll(keepingCapacity: true)
        input.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line
    }

    /// The head up to and including its blank line, or nil when this read ends first.
    private mutating func takeThroughBlankLine(_ input: inout ByteBuffer) throws(StreamedResponseError) -> [UInt8]? {
        let view = input.readableBytesView
        let searchFrom = pending.count
        pending += view
        input.moveReaderIndex(to: input.writerIndex)
        // Look from a little before the new bytes: the blank line can straddle the read boundary.
        var index = max(0, searchFrom - 3)
        while index + 3 < pending.count {
            if pending[index] == 13, pending[index + 1] == 10, pending[index + 2] == 13, pending[index + 3] == 10 {
                let block = Array(pending[0..<index])
                let rest = pending[(index + 4)...]
                pending.removeAll(keepingCapacity: true)
                // What follows the head belongs to the body: hand it back to the caller's loop.
                input = ByteBuffer(bytes: rest)
                return block
            }
            index += 1
        }
        if pending.count > Self.headLimit { throw StreamedResponseError(description: "an answer head over 64 KiB") }
        return nil
    }

    // MARK: - Parsing

    static func parseHead(_ block: [UInt8]) throws(StreamedResponseError) -> StreamedResponseHead {
        let text = String(decoding: block, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)[...]
        guard let statusLine = lines.popFirst() else { throw StreamedResponseError(description: "an empty answer") }
        // "HTTP/1.1 200 OK"
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            throw StreamedResponseError(description: "not an HTTP answer: \(statusLine.prefix(80))")
        }
        var chunked = false
        var length: Int?
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = Self.trimmed(line[line.index(after: colon)...])
            if name == "transfer-encoding" {
                chunked = value.lowercased().split(separator: ",").last.map(Self.trimmed) == "chunked"
            } else if name == "content-length" {
                guard let count = Int(value), count >= 0 else {
                    throw StreamedResponseError(description: "a bad Content-Length: \(value.prefix(40))")
                }
                length = count
            }
        }
        let framing: BodyFraming
        if chunked {
            framing = .chunked
        } else if let length {
            framing = .length(length)
        } else if status == 204 || status == 304 || (status < 200 && status != 101) {
            framing = .length(0)
        } else {
            // 101 included: after switching protocols the connection carries the stream until it closes.
            framing = .untilClose
        }
        return StreamedResponseHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", framing: framing)
    }

    private static func trimmed(_ text: Substring) -> String {
        String(text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    /// The size of a chunk from its line: hex digits, then maybe `;extensions`.
    static func chunkSize(_ line: [UInt8]) throws(StreamedResponseError) -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                guard digits > 0 else { throw StreamedResponseError(description: "a chunk without a size") }
                return size
            default:
                throw StreamedResponseError(description: "a bad chunk size")
            }
            digits += 1
            // 15 hex digits is far beyond any chunk; more would overflow.
            guard digits <= 15 else { throw StreamedResponseError(description: "a chunk size too large") }
            size = size << 4 | value
        }
        guard digits > 0 else { throw StreamedResponseError(description: "a chunk without a size") }
        return size
    }
}
