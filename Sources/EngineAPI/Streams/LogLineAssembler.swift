/// One line of container output, joined from the pieces it arrived in.
public struct LogLine: Sendable, Equatable {
    public var stream: LogStreamKind
    /// When the engine logged the line's first piece; nil unless the logs were asked for with timestamps.
    public var timestamp: LogTimestamp?
    /// The line without its newline; invalid UTF-8 replaced by U+FFFD.
    public var text: String
    /// The line was longer than the assembler's limit: `text` is its beginning, the rest was dropped.
    public var truncated: Bool

    public init(stream: LogStreamKind, timestamp: LogTimestamp? = nil, text: String, truncated: Bool = false) {
        self.stream = stream
        self.timestamp = timestamp
        self.text = text
        self.truncated = truncated
    }
}

/// Joins log frames into lines, per stream.
///
/// The engine cuts lines longer than 16 KiB into several messages; with timestamps on, each message starts with its
/// own timestamp and a space, so the timestamps of the continuation messages are taken out and the line keeps the
/// first one. A line is capped at `lineLimit` bytes (the rest is dropped and the line marked truncated), so a program
/// that never writes a newline can't grow memory.
public struct LogLineAssembler: Sendable {
    public static let defaultLineLimit = 1024 * 1024
    /// A timestamp is about 30 bytes; anything longer before a space is text, not a timestamp.
    static let timestampLimit = 40

    public let timestamps: Bool
    public let lineLimit: Int
    private var partials: [LogStreamKind: Partial] = [:]

    private struct Partial {
        var bytes: [UInt8] = []
        var timestamp: LogTimestamp?
        var truncated = false
        var expectingTimestamp: Bool
        var stamp: [UInt8] = []
    }

    public init(timestamps: Bool, lineLimit: Int = Self.defaultLineLimit) {
        self.timestamps = timestamps
        self.lineLimit = lineLimit
    }

    /// Consumes a piece of output and returns the lines it completes.
    public mutating func feed(_ frame: LogFrame) -> [LogLine] {
        var lines: [LogLine] = []
        var state = partials.removeValue(forKey: frame.stream) ?? Partial(expectingTimestamp: timestamps)
        if frame.startsMessage && timestamps {
            state.expectingTimestamp = true
            state.stamp.removeAll(keepingCapacity: true)
        }
        frame.bytes.withUnsafeBufferPointer { buffer in
            var index = 0
            while index < buffer.count {
                if state.expectingTimestamp {
                    index = readTimestamp(buffer, from: index, into: &state)
                    continue
                }
                let rest = UnsafeBufferPointer(rebasing: buffer[index...])
                if let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
                    append(UnsafeBufferPointer(rebasing: rest[..<newline]), to: &state)
                    lines.append(complete(&state, stream: frame.stream))
                    index += newline - rest.startIndex + 1
                    state.expectingTimestamp = timestamps
                } else {
                    append(rest, to: &state)
                    index = buffer.count
                }
            }
        }
        partials[frame.stream] = state
        return lines
    }

    /// The unfinished lines at the end of the output, such as a last line without a newline.
    public mutating func finish() -> [LogLine] {
        var lines: [LogLine] = []
        for (stream, var state) in partials {
            if !state.stamp.isEmpty { append(state.stamp, to: &state) }
            if !state.bytes.isEmpty || state.truncated { lines.append(complete(&state, stream: stream)) }
        }
        partials.removeAll()
        return lines
    }

    /// Reads timestamp bytes up to the space after them; returns the index to go on from.
    private func readTimestamp(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, into state: inout Partial) -> Int {
        // The common case: the whole timestamp is in this piece.
        if state.stamp.isEmpty {
            let window = UnsafeBufferPointer(rebasing: buffer[start..<min(buffer.count, start + Self.timestampLimit)])
            if let space = window.firstIndex(of: UInt8(ascii: " ")), !window[..<space].contains(UInt8(ascii: "\n")) {
                if state.bytes.isEmpty && state.timestamp == nil {
                    state.timestamp = LogTimestamp.parse(UnsafeBufferPointer(rebasing: window[..<space]))
                }
                state.expectingTimestamp = false
                return start + space + 1
            }
        }
        var index = start
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: " ") {
                if state.bytes.isEmpty && state.timestamp == nil {
                    state.timestamp = state.stamp.withUnsafeBufferPointer { LogTimestamp.parse($0) }
                }
                state.stamp.removeAll(keepingCapacity: true)
                state.expectingTimestamp = false
                return index + 1
            }
            if byte == UInt8(ascii: "\n") || state.stamp.count >= Self.timestampLimit {
                // Not a timestamp after all: what was read is text.
                let stamp = state.stamp
                state.stamp.removeAll(keepingCapacity: true)
                state.expectingTimestamp = false
                append(stamp, to: &state)
                return index
            }
            state.stamp.append(byte)
            index += 1
        }
        return index
    }

    private func append(_ bytes: some Collection<UInt8>, to state: inout Partial) {
        let room = lineLimit - state.bytes.count
        if bytes.count <= room {
            state.bytes.append(contentsOf: bytes)
        } else {
            state.bytes.append(contentsOf: bytes.prefix(max(room, 0)))
            state.truncated = true
        }
    }

    private func complete(_ state: inout Partial, stream: LogStreamKind) -> LogLine {
        var end = state.bytes.count
        if end > 0 && state.bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = LogLine(
            stream: stream, timestamp: state.timestamp, text: String(decoding: state.bytes[..<end], as: UTF8.self),
            truncated: state.truncated
        )
        state.bytes.removeAll(keepingCapacity: state.bytes.capacity <= 64 * 1024)
        state.timestamp = nil
        state.truncated = false
        return line
    }
}

/// A log timestamp as the engine writes it (RFC 3339 with nanoseconds), kept exact to the nanosecond.
///
/// Ordered, and convertible to the `seconds.nanoseconds` form the engine's `since` parameter takes, so a reader can
/// resume after the last line it saw.
public struct LogTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let seconds: Int64
    public let nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// Parses `2026-11-22T21:47:23.123456789Z` (any fraction length; `Z` or a `±hh:mm` offset).
    public init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    /// The same, from the bytes of a log line (the hot path: no `String` made).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> LogTimestamp? {
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var nanos = 0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if digits < 9 { nanos = nanos * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 9)..<9 { nanos *= 10 }
        }
        var offset = 0
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "Z"):
            guard index == bytes.count - 1 else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                let hours = number(index + 1..<index + 3), let minutes = number(index + 4..<index + 6)
            else { return nil }
            offset = (hours * 60 + minutes) * 60 * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        return LogTimestamp(
            seconds: Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset), nanoseconds: Int32(nanos)
        )
    }

    /// ``description``'s bytes, appended without making a `String`.
    public func write(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(seconds).utf8)
        bytes.append(UInt8(ascii: "."))
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (48, 48, 48, 48, 48, 48, 48, 48, 48)
        var rest = Int(nanoseconds)
        withUnsafeMutableBytes(of: &digits) { buffer in
            for index in stride(from: 8, through: 0, by: -1) {
                buffer[index] = UInt8(48 + rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: buffer)
        }
    }

    /// From nanoseconds since the epoch, as engine events carry them (`timeNano`).
    public init(nanosecondsSinceEpoch value: Int64) {
        seconds = value / 1_000_000_000
        nanoseconds = Int32(value % 1_000_000_000)
    }

    /// `seconds.nanoseconds`, as the engine's `since` and `until` parameters take it.
    public var description: String {
        let fraction = String(nanoseconds)
        return "\(seconds).\(String(repeating: "0", count: 9 - fraction.count))\(fraction)"
    }

    public init?(parsingEngineForm text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let seconds = Int64(parts[0]), parts[1].count == 9, let nanos = Int32(parts[1]), nanos >= 0 else {
            return nil
        }
        self.init(seconds: seconds, nanoseconds: nanos)
    }

    public static func < (lhs: LogTimestamp, rhs: LogTimestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
