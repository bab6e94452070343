import BerthStore
import Crypto
import Foundation
import NIOCore

/// Records one console session as asciicast v2 (a JSON header line, then `[seconds, code, data]` lines: `o` output,
/// `i` input, `r` resize, `m` marker) into compressed chunks in the database as it goes, hashing the text.
///
/// Typed text is recorded in clear only once the terminal echoed it back: input the process did not show (a password
/// typed with echo off) is recorded as one `•` per character. Control keys (Enter, Ctrl-C, arrows) are recorded as
/// they are. Past `maxBytes` nothing more is recorded but a marker saying so.
actor ConsoleRecorder {
    struct Summary: Sendable {
        let recordingId: Int64
        let sha256: String
        let bytes: Int
        let truncated: Bool
    }

    let recordingId: Int64
    private let database: AppDatabase
    private let maxBytes: Int
    private let chunkSize: Int
    private let started = ContinuousClock.now
    private var hash = SHA256()
    private var written = 0
    private var pending = ByteBuffer()
    private var nextSeq = 0
    private(set) var truncated = false
    /// Output bytes of a UTF-8 sequence split across reads, kept for the next read.
    private var partialOutput: [UInt8] = []
    /// Typed input not on record yet: text waits for the terminal to show it (`remaining` is what it has not shown
    /// yet), a key waits for the text before it.
    private enum Typed {
        case text(String, remaining: Substring)
        case key(String)
    }

    private var typed: [Typed] = []
    /// Why recording failed (the database); the session ends on it.
    private(set) var failure: String?

    /// Starts a recording row and writes the header.
    static func start(
        database: AppDatabase, actor: String, container: String, containerName: String, command: String,
        columns: Int, rows: Int, maxBytes: Int, chunkSize: Int = 32 * 1024
    ) async throws -> ConsoleRecorder {
        let row = try await database.createConsoleRecording(ConsoleRecording(actor: actor, container: container, containerName: containerName))
        let recorder = ConsoleRecorder(recordingId: row.id ?? 0, database: database, maxBytes: maxBytes, chunkSize: chunkSize)
        let header: [String: Any] = [
            "version": 2, "width": columns, "height": rows, "timestamp": Int(row.startedAt.timeIntervalSince1970),
            "title": "\(actor) in \(containerName): \(command)",
            "env": ["TERM": "xterm-256color", "SHELL": command],
        ]
        let data = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        var line = ByteBuffer(bytes: data)
        line.writeString("\n")
        await recorder.append(line)
        return recorder
    }

    private init(recordingId: Int64, database: AppDatabase, maxBytes: Int, chunkSize: Int) {
        self.recordingId = recordingId
        self.database = database
        self.maxBytes = maxBytes
        self.chunkSize = chunkSize
    }

    /// What the process wrote.
    func output(_ bytes: ByteBuffer) async {
        // Past the cap nothing is recorded: not even decoded (a console printing 50 MB/s keeps printing).
        guard !truncated else { return }
        // The bytes are escaped into the line as they are (JSONEscaping replaces invalid UTF-8); only a sequence cut
        // by the read waits for the next one.
        var data = bytes
        if !partialOutput.isEmpty {
            data = ByteBuffer(bytes: partialOutput)
            data.writeImmutableBuffer(bytes)
            partialOutput = []
        }
        let cut = data.withUnsafeReadableBytes { Self.completeUTF8Prefix(Array($0.suffix(4))) + max(0, $0.count - 4) }
        if cut < data.readableBytes {
            partialOutput = Array(data.readableBytesView.dropFirst(cut))
            data = data.getSlice(at: data.readerIndex, length: cut) ?? ByteBuffer()
        }
        guard cut > 0 else { return }
        if !typed.isEmpty { await matchEcho(Self.withoutControlSequences(String(buffer: data))) }
        await event("o", data)
    }

    /// What the person typed (a keystroke, a paste, a terminal's answer), kept until the output tells whether the
    /// terminal showed it.
    func input(_ bytes: ByteBuffer) async {
        guard !truncated else { return }
        let text = String(decoding: bytes.readableBytesView, as: UTF8.self)
        // Escape sequences (arrows, function keys, answers to the terminal's questions) and control characters are
        // keys, not text: recorded as they are, in their place.
        if text.hasPrefix("\u{1B}") {
            typed.append(.key(text))
        } else {
            var printable = ""
            for scalar in text.unicodeScalars {
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    if !printable.isEmpty { typed.append(.text(printable, remaining: printable[...])) }
                    printable = ""
                    typed.append(.key(String(scalar)))
                } else {
                    printable.unicodeScalars.append(scalar)
                }
            }
            if !printable.isEmpty { typed.append(.text(printable, remaining: printable[...])) }
        }
        await emitKeys()
        // Input nothing shows (a long paste at a password prompt) is not kept without bound.
        if typed.count > 256 { await hideTyped() }
    }

    /// Typed text the output starts with was echoed: recorded in clear. Output that shows something else means the
    /// terminal did not echo what is pending: recorded hidden. Only what the output also shows is ever in clear.
    private func matchEcho(_ shown: String) async {
        var shown = Substring(shown)
        while !shown.isEmpty, let first = typed.first {
            guard case .text(let text, let remaining) = first else {
                // A key (Enter) between typed texts: its own echo, if any, is whatever comes; the key goes on record.
                typed.removeFirst()
                await event("i", Self.keyText(first))
                shown = shown.drop { $0 == "\r" || $0 == "\n" }
                continue
            }
            if shown.hasPrefix(remaining) {
                typed.removeFirst()
                shown = shown.dropFirst(remaining.count)
                await event("i", text)
            } else if remaining.hasPrefix(shown) {
                typed[0] = .text(text, remaining: remaining.dropFirst(shown.count))
                return
            } else {
                await hideTyped()
                return
            }
            await emitKeys()
        }
    }

    /// Keys at the head of what is pending go on record at once.
    private func emitKeys() async {
        while let first = typed.first, case .key = first {
            typed.removeFirst()
            await event("i", Self.keyText(first))
        }
    }

    /// Everything pending, its text as hidden.
    private func hideTyped() async {
        let pending = typed
        typed.removeAll()
        for item in pending {
            switch item {
            case .text(let text, _): await event("i", Self.hidden(text))
            case .key(let key): await event("i", key)
            }
        }
    }

    private static func keyText(_ item: Typed) -> String {
        switch item {
        case .text(let text, _): text
        case .key(let key): key
        }
    }

    /// The terminal's new size.
    func resize(columns: Int, rows: Int) async {
        await event("r", "\(columns)x\(rows)")
    }

    /// Writes what is left and returns the recording's hash and size. Further calls record nothing.
    func finish() async throws -> Summary {
        await hideTyped()
        if !partialOutput.isEmpty {
            let rest = partialOutput
            partialOutput = []
            await event("o", String(decoding: rest, as: UTF8.self))
        }
        await flush()
        if let failure { throw ConsoleRecordingError(message: failure) }
        let digest = hash.finalize().map { String(format: "%02x", $0) }.joined()
        try await database.finishConsoleRecording(id: recordingId, bytes: written, sha256: digest, truncated: truncated)
        return Summary(recordingId: recordingId, sha256: digest, bytes: written, truncated: truncated)
    }

    private func event(_ code: String, _ data: String) async {
        await event(code, ByteBuffer(string: data))
    }

    private func event(_ code: String, _ data: ByteBuffer) async {
        guard !truncated else { return }
        let seconds = Self.seconds(Int((ContinuousClock.now - started) / .microseconds(1)))
        var line = ByteBuffer()
        line.reserveCapacity(data.readableBytes + 32)
        line.writeString("[\(seconds), \"\(code)\", ")
        data.withUnsafeReadableBytes { JSONEscaping.writeString($0.bindMemory(to: UInt8.self), to: &line) }
        line.writeString("]\n")
        if written + line.readableBytes > maxBytes {
            truncated = true
            await append(ByteBuffer(string: "[\(seconds), \"m\", \"recording truncated: --console-record-max reached\"]\n"))
            return
        }
        await append(line)
    }

    private func append(_ line: ByteBuffer) async {
        hash.update(data: line.readableBytesView)
        written += line.readableBytes
        pending.writeImmutableBuffer(line)
        if pending.readableBytes >= chunkSize { await flush() }
    }

    private func flush() async {
        guard pending.readableBytes > 0, failure == nil else { return }
        let chunk = pending
        pending = ByteBuffer()
        let seq = nextSeq
        nextSeq += 1
        do {
            try await database.appendConsoleChunk(recordingId: recordingId, seq: seq, text: chunk)
        } catch {
            failure = "the recording cannot be written (\(error))"
        }
    }

    /// One `•` per character: how much was typed, not what.
    static func hidden(_ text: String) -> String {
        String(repeating: "•", count: text.count)
    }

    /// `12.345678`: microseconds as the seconds asciicast wants, without a formatter.
    static func seconds(_ micros: Int) -> String {
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// The length of the longest prefix that does not end inside a UTF-8 sequence.
    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        var index = bytes.count
        // Look back at most 3 bytes for the lead byte of an unfinished sequence.
        var back = 0
        while index > 0 && back < 3 && bytes[index - 1] & 0xC0 == 0x80 {
            index -= 1
            back += 1
        }
        guard index > 0 else { return bytes.count }
        let lead = bytes[index - 1]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        // The sequence is complete (or the byte is not a lead byte at all): keep everything.
        if length == 1 || back + 1 >= length { return bytes.count }
        return index - 1
    }

    /// Text as a terminal shows it, escape sequences (cursor moves, colours) taken out.
    static func withoutControlSequences(_ text: String) -> String {
        var result = ""
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            if scalar == "\u{1B}" {
                guard let next = scalars.next() else { break }
                if next == "[" {
                    // CSI: parameters up to a final byte in @...~.
                    while let byte = scalars.next(), !(0x40...0x7E).contains(byte.value) {}
                }
                continue
            }
            if scalar.value < 0x20 && scalar != "\n" && scalar != "\r" { continue }
            result.unicodeScalars.append(scalar)
        }
        return result
    }
}

struct ConsoleRecordingError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
