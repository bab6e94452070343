import NIOCore

/// Splits the engine's multiplexed log stream into frames.
///
/// Each frame starts with an 8-byte header: the stream (1 byte), three zero bytes, and the payload length (32-bit big
/// endian). Reads from the socket cut anywhere, so a header can arrive in pieces; payload bytes are passed on as soon as
/// they arrive, so memory stays bounded by the read size however large a frame claims to be. Payloads are slices of the
/// chunk they came in: nothing is copied.
public struct LogDemultiplexer: Sendable {
    /// The bytes of a header cut by a read boundary (rare: most headers arrive whole).
    private var header: [UInt8] = []
    private var current: LogStreamKind = .stdout
    private var remaining = 0
    /// True between a header and the first payload byte after it.
    private var atFrameStart = false

    public init() {}

    /// True when the input so far ended inside a header or payload.
    public var isMidFrame: Bool { !header.isEmpty || remaining > 0 }

    /// Consumes a chunk and returns the frames (or frame pieces) it completes, in order.
    public mutating func feed(_ chunk: ByteBuffer) -> [LogFrame] {
        var frames: [LogFrame] = []
        feed(chunk, into: &frames)
        return frames
    }

    /// The same, appending to `frames` (one array for many chunks).
    public mutating func feed(_ chunk: ByteBuffer, into frames: inout [LogFrame]) {
        var input = chunk
        while input.readableBytes > 0 {
            if remaining > 0 {
                let take = min(remaining, input.readableBytes)
                let bytes = input.readSlice(length: take)!
                remaining -= take
                frames.append(LogFrame(stream: current, payload: bytes, startsMessage: atFrameStart))
                atFrameStart = false
                continue
            }
            if header.isEmpty, input.readableBytes >= 8 {
                // The common case: a whole header in this chunk.
                let streamByte = input.getInteger(at: input.readerIndex, as: UInt8.self)!
                let length = input.getInteger(at: input.readerIndex + 4, as: UInt32.self)!
                input.moveReaderIndex(forwardBy: 8)
                start(stream: streamByte, length: Int(length))
                continue
            }
            let need = 8 - header.count
            let take = min(need, input.readableBytes)
            header += input.readBytes(length: take) ?? []
            guard header.count == 8 else { break }
            let length = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
            start(stream: header[0], length: length)
            header.removeAll(keepingCapacity: true)
        }
    }

    private mutating func start(stream: UInt8, length: Int) {
        current = LogStreamKind(headerByte: stream)
        remaining = length
        atFrameStart = true
        // A zero-length frame carries nothing: the loop reads the next header.
    }
}
