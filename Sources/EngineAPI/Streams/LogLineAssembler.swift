import NIOCore

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
///
/// Lines go into a ``LogBatch``: a line that arrived whole in one frame (nearly all of them) is copied once, from the
/// read buffer into the batch; only lines cut across frames wait in a per-stream buffer.
public struct LogLineAssembler: Sendable {
    public static let defaultLineLimit = 1024 * 1024
    /// A timestamp is about 30 bytes; anything longer before a space is text, not a timestamp.
    static let timestampLimit = 40

    public let timestamps: Bool
    public let lineLimit: Int
    /// One per stream seen, found by a short linear search (there are at most a few streams).
    private var partials: [Partial] = []

    private struct Partial {
        let stream: LogStreamKind
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
        var batch = LogBatch()
        feed(frame, into: &batch)
        return Array(batch)
    }

    /// Consumes a piece of output and appends the lines it completes to `batch`.
    public mutating func feed(_ frame: LogFrame, into batch: inout LogBatch) {
        let slot = self.slot(for: frame.stream)
        if frame.startsMessage && timestamps {
            partials[slot].expectingTimestamp = true
            partials[slot].stamp.removeAll(keepingCapacity: true)
        }
        frame.payload.withUnsafeReadableBytes { raw in
            let buffer = raw.bindMemory(to: UInt8.self)
            var index = 0
            while index < buffer.count {
                if partials[slot].expectingTimestamp {
                    index = readTimestamp(buffer, from: index, slot: slot)
                    continue
                }
                let rest = UnsafeBufferPointer(rebasing: buffer[index...])
                if let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
                    complete(slot, with: UnsafeBufferPointer(rebasing: rest[..<newline]), into: &batch)
                    index += newline + 1
                    partials[slot].expectingTimestamp = timestamps
                } else {
                    append(rest, to: slot)
                    index = buffer.count
                }
            }
        }
    }

    /// The unfinished lines at the end of the output, such as a last line without a newline.
    public mutating func finish() -> [LogLine] {
        var batch = LogBatch()
        finish(into: &batch)
        return Array(batch)
    }

    /// The same, appended to `batch`.
    public mutating func finish(into batch: inout LogBatch) {
        for slot in partials.indices {
            if !partials[slot].stamp.isEmpty {
                let stamp = partials[slot].stamp
                stamp.withUnsafeBufferPointer { append($0, to: slot) }
            }
            if !partials[slot].bytes.isEmpty || partials[slot].truncated {
                complete(slot, with: UnsafeBufferPointer(start: nil, count: 0), into: &batch)
            }
        }
        partials.removeAll()
    }

    private mutating func slot(for stream: LogStreamKind) -> Int {
        for index in partials.indices where partials[index].stream == stream { return index }
        partials.append(Partial(stream: stream, expectingTimestamp: timestamps))
        return partials.count - 1
    }

    /// Reads timestamp bytes up to the space after them; returns the index to go on from.
    private mutating func readTimestamp(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, slot: Int) -> Int {
        // The common case: the whole timestamp is in this piece.
        if partials[slot].stamp.isEmpty {
            let window = UnsafeBufferPointer(rebasing: buffer[start..<min(buffer.count, start + Self.timestampLimit)])
            if let space = window.firstIndex(of: UInt8(ascii: " ")), !window[..<space].contains(UInt8(ascii: "\n")) {
                if partials[slot].bytes.isEmpty && partials[slot].timestamp == nil {
                    partials[slot].timestamp = LogTimestamp.parse(UnsafeBufferPointer(rebasing: window[..<space]))
                }
                partials[slot].expectingTimestamp = false
                return start + space + 1
            }
        }
        var index = start
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: " ") {
                if partials[slot].bytes.isEmpty && partials[slot].timestamp == nil {
                    partials[slot].timestamp = partials[slot].stamp.withUnsafeBufferPointer { LogTimestamp.parse($0) }
                }
                partials[slot].stamp.removeAll(keepingCapacity: true)
                partials[slot].expectingTimestamp = false
                return index + 1
            }
            if byte == UInt8(ascii: "\n") || partials[slot].stamp.count >= Self.timestampLimit {
                // Not a timestamp after all: what was read is text.
                let stamp = partials[slot].stamp
                partials[slot].stamp.removeAll(keepingCapacity: true)
                partials[slot].expectingTimestamp = false
                stamp.withUnsafeBufferPointer { append($0, to: slot) }
                return index
            }
            partials[slot].stamp.append(byte)
            index += 1
        }
        return index
    }

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, to slot: Int) {
        let room = lineLimit - partials[slot].bytes.count
        if bytes.count <= room {
            partials[slot].bytes.append(contentsOf: bytes)
        } else {
            partials[slot].bytes.append(contentsOf: UnsafeBufferPointer(rebasing: bytes.prefix(max(room, 0))))
            partials[slot].truncated = true
        }
    }

    /// Ends the stream's line with `last` (the bytes before its newline), into the batch.
    private mutating func complete(_ slot: Int, with last: UnsafeBufferPointer<UInt8>, into batch: inout LogBatch) {
        let stream = partials[slot].stream
        if partials[slot].bytes.isEmpty && !partials[slot].truncated {
            // The whole line is in this piece: straight from the read buffer into the batch.
            let truncated = last.count > lineLimit
            var end = min(last.count, lineLimit)
            if end > 0 && last[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            batch.append(
                stream: stream, timestamp: partials[slot].timestamp, bytes: UnsafeBufferPointer(rebasing: last[..<end]), truncated: truncated
            )
        } else {
            append(last, to: slot)
            var end = partials[slot].bytes.count
            if end > 0 && partials[slot].bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            partials[slot].bytes.withUnsafeBufferPointer { bytes in
                batch.append(
                    stream: stream, timestamp: partials[slot].timestamp, bytes: UnsafeBufferPointer(rebasing: bytes[..<end]),
                    truncated: partials[slot].truncated
                )
            }
            partials[slot].bytes.removeAll(keepingCapacity: partials[slot].bytes.capacity <= 64 * 1024)
        }
        partials[slot].timestamp = nil
        partials[slot].truncated = false
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
