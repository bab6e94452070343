import EngineAPI
import Foundation
import NIOCore

/// One server-sent event, encoded for the wire.
///
/// The payload is always JSON on a single `data:` line: JSON escapes every line break inside strings, so nothing a
/// container prints (say `\n\nevent: x\nid: 9`) can end the event early or forge a field.
struct ServerSentEvent: Sendable {
    let bytes: ByteBuffer
    /// Nothing is written after this event.
    var endsStream = false

    /// - Parameters:
    ///   - event: the event type (`logs`, `engine`, `end`, …); nil for the default `message`.
    ///   - id: what the browser sends back as `Last-Event-ID` when it reconnects.
    ///   - json: one line of JSON.
    init(event: String?, id: String? = nil, json: some Collection<UInt8>) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.count + 64)
        if let event { buffer.writeString("event: \(Self.field(event))\n") }
        if let id { buffer.writeString("id: \(Self.field(id))\n") }
        buffer.writeString("data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        bytes = buffer
    }

    /// An event already encoded whole (the log stream builds its events straight into one buffer).
    init(encoded bytes: ByteBuffer) {
        self.bytes = bytes
    }

    init(event: String?, id: String? = nil, encoding value: some Encodable) {
        let json = (try? Self.encoder.encode(value)) ?? Data("{}".utf8)
        self.init(event: event, id: id, json: json)
    }

    /// A comment line: browsers ignore it, proxies see traffic.
    static func comment(_ text: String) -> ByteBuffer {
        ByteBuffer(string: ": \(field(text))\n\n")
    }

    /// Field values are Berth's own words and ids; line breaks are taken out all the same.
    static func field(_ text: String) -> String {
        // Checked byte-wise first: this runs for every event, and nearly never finds anything.
        guard text.utf8.contains(where: { $0 == 10 || $0 == 13 }) else { return text }
        return String(text.unicodeScalars.filter { $0 != "\n" && $0 != "\r" })
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

/// JSON string escaping straight from bytes, for log lines kept as the container wrote them.
enum JSONEscaping {
    /// Writes `bytes` as a JSON string, quotes included: quotes, backslashes and control characters escaped (so line
    /// breaks never reach the wire raw), invalid UTF-8 replaced by U+FFFD exactly as `String(decoding:as:)` does. Valid
    /// UTF-8 (nearly every line) is checked and escaped in one pass; only a line with invalid bytes is decoded first.
    static func writeString(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        let mark = buffer.writerIndex
        if !writeEscapedIfValid(bytes, to: &buffer) {
            buffer.moveWriterIndex(to: mark)
            var text = String(decoding: bytes, as: UTF8.self)
            text.withUTF8 { _ = writeEscapedIfValid($0, to: &buffer) }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// Escapes valid UTF-8; false (with part of it written) at the first invalid byte.
    private static func writeEscapedIfValid(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout ByteBuffer) -> Bool {
        var run = 0
        var index = 0
        let count = bytes.count
        let raw = UnsafeRawBufferPointer(bytes)
        while index < count {
            // Eight bytes at a time while none needs a look: no control byte, quote, backslash or non-ASCII byte.
            if index + 8 <= count {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let high: UInt64 = 0x8080_8080_8080_8080
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let control = (word &- ones &* 0x20) & ~word
                let special = (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | word) & high
                if special == 0 {
                    index += 8
                    continue
                }
            }
            let byte = bytes[index]
            if byte >= 0x20 && byte < 0x80 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            if byte >= 0x80 {
                let length = sequenceLength(bytes, at: index)
                if length == 0 { return false }
                index += length
                continue
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[run..<index]))
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            default:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hexDigit(byte >> 4))
                buffer.writeInteger(hexDigit(byte & 0xf))
            }
            index += 1
            run = index
        }
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[run..<count]))
        return true
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? 48 + value : 87 + value
    }

    /// The length of the well-formed UTF-8 sequence at `index` (Unicode's table 3-7), or 0 when it is not one.
    private static func sequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Int {
        let count = bytes.count
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            index + offset < count && range.contains(bytes[index + offset])
        }
        switch bytes[index] {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : 0
        case 0xE0:
            return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return continuation(1) && continuation(2) ? 3 : 0
        case 0xED:
            return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
        case 0xF0:
            return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3:
            return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4:
            return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default:
            return 0
        }
    }
}
