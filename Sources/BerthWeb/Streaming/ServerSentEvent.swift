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

    init(event: String?, id: String? = nil, encoding value: some Encodable) {
        let json = (try? Self.encoder.encode(value)) ?? Data("{}".utf8)
        self.init(event: event, id: id, json: json)
    }

    /// A comment line: browsers ignore it, proxies see traffic.
    static func comment(_ text: String) -> ByteBuffer {
        ByteBuffer(string: ": \(field(text))\n\n")
    }

    /// Field values are Berth's own words and ids; line breaks are taken out all the same.
    private static func field(_ text: String) -> String {
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

/// Builds JSON text by hand for the hot path (log lines), where `JSONEncoder` would cost more than the rest.
struct JSONBuilder {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `,"t":"seconds.nanoseconds"`.
    mutating func timestamp(_ stamp: LogTimestamp) {
        raw(",\"t\":\"")
        stamp.write(into: &bytes)
        raw("\"")
    }

    mutating func number(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A JSON string: quotes, backslashes and control characters escaped (so line breaks never reach the wire raw).
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    raw("\\u00")
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0xf)])
                }
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
