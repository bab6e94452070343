/// The lines of one or more reads of a log, their bytes kept one after another in one buffer.
///
/// This is how lines travel on the hot path: a fast log yields thousands of lines a second, and a `String` and an array
/// element per line cost more than everything else done with them. A line's bytes are kept as the container wrote
/// them (without the newline): ``LogLine/text`` replaces invalid UTF-8 with U+FFFD when a line is looked at, and the
/// event stream's JSON encoder does the same as it escapes, in one pass over the bytes.
public struct LogBatch: Sendable, RandomAccessCollection {
    /// One line: where its bytes are, and what is known about it.
    public struct Entry: Sendable, Equatable {
        public var stream: LogStreamKind
        /// When the engine logged the line's first piece; nil unless the logs were asked for with timestamps.
        public var timestamp: LogTimestamp?
        /// The line was longer than the assembler's limit: its bytes are its beginning, the rest was dropped.
        public var truncated: Bool
        let start: Int
        let count: Int
    }

    public private(set) var entries: [Entry] = []
    private var storage: [UInt8] = []

    public init() {}

    public init(_ lines: some Sequence<LogLine>) {
        for line in lines { append(line) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.count }

    /// The line at `index`, its text decoded (invalid UTF-8 replaced).
    public subscript(index: Int) -> LogLine {
        let entry = entries[index]
        return LogLine(stream: entry.stream, timestamp: entry.timestamp, text: text(of: entry), truncated: entry.truncated)
    }

    /// The bytes of every line together.
    public var byteCount: Int { storage.count }

    /// What the batch holds allocated (its arrays' capacity, which growth by doubling makes up to twice what they
    /// use): the measure of its memory, for a queue bounded in bytes.
    public var allocatedBytes: Int { storage.capacity + entries.capacity * MemoryLayout<Entry>.stride }

    public func text(of entry: Entry) -> String {
        withBytes(of: entry) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with a line's bytes, as the container wrote them.
    public func withBytes<Result>(of entry: Entry, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try storage.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[entry.start..<entry.start + entry.count])) }
    }

    public mutating func reserveCapacity(lines: Int, bytes: Int) {
        entries.reserveCapacity(lines)
        storage.reserveCapacity(bytes)
    }

    public mutating func append(_ line: LogLine) {
        var text = line.text
        text.withUTF8 { append(stream: line.stream, timestamp: line.timestamp, bytes: $0, truncated: line.truncated) }
    }

    public mutating func append(stream: LogStreamKind, timestamp: LogTimestamp?, bytes: UnsafeBufferPointer<UInt8>, truncated: Bool) {
        entries.append(Entry(stream: stream, timestamp: timestamp, truncated: truncated, start: storage.count, count: bytes.count))
        storage.append(contentsOf: bytes)
    }

    mutating func append(stream: LogStreamKind, timestamp: LogTimestamp?, bytes: [UInt8], truncated: Bool) {
        bytes.withUnsafeBufferPointer { append(stream: stream, timestamp: timestamp, bytes: $0, truncated: truncated) }
    }

    /// Adds another batch's lines after these.
    public mutating func append(contentsOf other: LogBatch) {
        if entries.isEmpty {
            self = other
            return
        }
        let offset = storage.count
        entries.reserveCapacity(entries.count + other.entries.count)
        for entry in other.entries {
            entries.append(Entry(stream: entry.stream, timestamp: entry.timestamp, truncated: entry.truncated, start: entry.start + offset, count: entry.count))
        }
        storage.append(contentsOf: other.storage)
    }

    /// Drops the lines `shouldBeRemoved` picks; it is asked about every line once, in order (so it may count). The
    /// bytes of dropped lines stay until the batch goes.
    public mutating func removeAll(where shouldBeRemoved: (Entry) throws -> Bool) rethrows {
        var kept = 0
        for index in entries.indices {
            let entry = entries[index]
            if try shouldBeRemoved(entry) { continue }
            if kept != index { entries[kept] = entry }
            kept += 1
        }
        entries.removeLast(entries.count - kept)
    }

    /// Replaces each line's text by what `transform` makes of it (for redaction); the rest of each line stays.
    public func mapText(_ transform: (String) throws -> String) rethrows -> LogBatch {
        var result = LogBatch()
        result.reserveCapacity(lines: entries.count, bytes: storage.count)
        for entry in entries {
            var text = try transform(text(of: entry))
            text.withUTF8 { result.append(stream: entry.stream, timestamp: entry.timestamp, bytes: $0, truncated: entry.truncated) }
        }
        return result
    }
}
