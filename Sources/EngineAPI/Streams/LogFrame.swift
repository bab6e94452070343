import NIOCore

/// A piece of container output as it came from the engine, tagged with its stream.
///
/// One engine frame may arrive as several `LogFrame`s (the demultiplexer passes bytes on as they come, so a huge frame
/// never sits whole in memory); joining bytes into lines is the consumer's job.
public struct LogFrame: Sendable, Equatable {
    public var stream: LogStreamKind
    /// The bytes, as a slice of the buffer they were read into (no copy).
    public var payload: ByteBuffer
    /// Whether these bytes begin one of the engine's frames, that is one log message. The engine cuts lines longer
    /// than 16 KiB into several messages, each with its own timestamp; this is how a reader finds them. Raw (TTY) output
    /// has no frames, so it is never set there.
    public var startsMessage: Bool

    public init(stream: LogStreamKind, payload: ByteBuffer, startsMessage: Bool = false) {
        self.stream = stream
        self.payload = payload
        self.startsMessage = startsMessage
    }

    public init(stream: LogStreamKind, bytes: [UInt8], startsMessage: Bool = false) {
        self.init(stream: stream, payload: ByteBuffer(bytes: bytes), startsMessage: startsMessage)
    }

    /// The bytes as an array (a copy).
    public var bytes: [UInt8] {
        get { Array(payload.readableBytesView) }
        set { payload = ByteBuffer(bytes: newValue) }
    }

    /// The bytes as text; invalid UTF-8 becomes U+FFFD.
    public var text: String { String(decoding: payload.readableBytesView, as: UTF8.self) }
}

/// The stream a frame belongs to, from the first byte of its 8-byte header.
public enum LogStreamKind: Sendable, Hashable {
    case stdin
    case stdout
    case stderr
    /// Stream 3: errors the engine itself reports about the exec or attach.
    case system
    /// A TTY container: stdout and stderr are one raw stream.
    case tty
    /// A stream byte the API does not document; kept so nothing is lost.
    case unknown(UInt8)

    init(headerByte: UInt8) {
        switch headerByte {
        case 0: self = .stdin
        case 1: self = .stdout
        case 2: self = .stderr
        case 3: self = .system
        default: self = .unknown(headerByte)
        }
    }
}
