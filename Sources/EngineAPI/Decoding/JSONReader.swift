/// A forward-only reader over JSON bytes: each value is read or skipped as it comes, and nothing is built that the
/// caller does not ask for.
///
/// For the one hot document, the container list (hundreds of containers, each with fields the list never shows),
/// where Foundation's `JSONDecoder` builds a map of the whole document before decoding any of it.
struct JSONReader {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    /// Valid only while `bytes` is.
    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    struct Failure: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// An object key as it stands in the document, compared without making a `String`.
    struct Key {
        fileprivate let bytes: UnsafeRawBufferPointer
        /// Set when the key held escapes and had to be decoded.
        fileprivate let decoded: String?

        static func == (key: Key, name: StaticString) -> Bool {
            if let decoded = key.decoded { return decoded == name.description }
            guard key.bytes.count == name.utf8CodeUnitCount else { return false }
            return name.withUTF8Buffer { name in
                for offset in 0..<name.count where name[offset] != key.bytes[offset] { return false }
                return true
            }
        }

        var string: String { decoded ?? String(decoding: bytes, as: UTF8.self) }
    }

    // MARK: Structure

    /// Calls `body` for each member of the object that comes next (or returns at once for `null`).
    mutating func readObject(_ body: (inout JSONReader, Key) throws -> Void) throws {
        if try readNull() { return }
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            let key = try readKey()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            let before = index
            try body(&self, key)
            // A member the caller did not read is skipped.
            if index == before { try skipValue() }
            skipWhitespace()
            guard let next = peek() else { throw failure("unfinished object") }
            index += 1
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else { throw Failure(offset: index - 1, reason: "expected , or }") }
        }
    }

    /// Calls `body` for each element of the array that comes next (or returns at once for `null`).
    mutating func readArray(_ body: (inout JSONReader) throws -> Void) throws {
        if try readNull() { return }
        try expect(UInt8(ascii: "["))
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            let before = index
            try body(&self)
            if index == before { try skipValue() }
            skipWhitespace()
            guard let next = peek() else { throw failure("unfinished array") }
            index += 1
            if next == UInt8(ascii: "]") { return }
            guard next == UInt8(ascii: ",") else { throw Failure(offset: index - 1, reason: "expected , or ]") }
        }
    }

    /// The elements of the array that comes next, each read by `element`; nil for `null`.
    mutating func readOptionalArray<Element>(_ element: (inout JSONReader) throws -> Element) throws -> [Element]? {
        if try readNull() { return nil }
        var elements: [Element] = []
        try readArray { reader in elements.append(try element(&reader)) }
        return elements
    }

    /// Checks that only whitespace follows the document.
    mutating func finish() throws {
        skipWhitespace()
        guard index == bytes.count else { throw failure("more after the document") }
    }

    // MARK: Values

    /// A string, or nil for `null`.
    mutating func readString() throws -> String? {
        if try readNull() { return nil }
        let (raw, escaped) = try scanString()
        return escaped ? try Self.unescape(raw, at: index) : String(decoding: raw, as: UTF8.self)
    }

    /// An integer, or nil for `null`; a number with a fraction or exponent is taken if it is a whole number.
    mutating func readInt() throws -> Int64? {
        if try readNull() { return nil }
        let start = index
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value: Int64 = 0
        var digits = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflowTimes, !overflowSum else { throw failure("integer too large") }
            value = sum
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw failure("expected a number") }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            // Rare here: read the whole number as a Double.
            index = start
            try skipNumber()
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let double = Double(text), double.rounded() == double, let whole = Int64(exactly: double) else {
                throw Failure(offset: start, reason: "expected a whole number")
            }
            return whole
        }
        return negative ? -value : value
    }

    /// A boolean, or nil for `null`.
    mutating func readBool() throws -> Bool? {
        if try readNull() { return nil }
        if try readLiteral("true") { return true }
        if try readLiteral("false") { return false }
        throw failure("expected true or false")
    }

    /// Every member of an object whose values are strings (labels); other values are skipped.
    mutating func readStringMap() throws -> [String: String]? {
        if try readNull() { return nil }
        var map: [String: String] = [:]
        try readObject { reader, key in
            if reader.peek() == UInt8(ascii: "\"") { map[key.string] = try reader.readString() }
        }
        return map
    }

    /// An array of strings (names); other elements are skipped.
    mutating func readStringArray() throws -> [String]? {
        if try readNull() { return nil }
        var strings: [String] = []
        try readArray { reader in
            if reader.peek() == UInt8(ascii: "\""), let string = try reader.readString() { strings.append(string) }
        }
        return strings
    }

    /// Passes over the next value, whatever it is.
    mutating func skipValue() throws {
        skipWhitespace()
        guard let byte = peek() else { throw failure("expected a value") }
        switch byte {
        case UInt8(ascii: "\""): _ = try scanString()
        case UInt8(ascii: "{"): try readObject { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["): try readArray { reader in try reader.skipValue() }
        case UInt8(ascii: "t"): guard try readLiteral("true") else { throw failure("expected true") }
        case UInt8(ascii: "f"): guard try readLiteral("false") else { throw failure("expected false") }
        case UInt8(ascii: "n"): guard try readNull() else { throw failure("expected null") }
        default: try skipNumber()
        }
    }

    // MARK: Bytes

    func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws {
        skipWhitespace()
        guard peek() == byte else { throw failure("expected \(Character(Unicode.Scalar(byte)))") }
        index += 1
    }

    private mutating func readNull() throws -> Bool {
        skipWhitespace()
        guard peek() == UInt8(ascii: "n") else { return false }
        guard try readLiteral("null") else { throw failure("expected null") }
        return true
    }

    private mutating func readLiteral(_ literal: StaticString) throws -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let matches = literal.withUTF8Buffer { literal in
            (0..<count).allSatisfy { bytes[index + $0] == literal[$0] }
        }
        if matches { index += count }
        return matches
    }

    private mutating func skipNumber() throws {
        let start = index
        while let byte = peek(), (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            index += 1
        }
        guard index > start else { throw failure("unexpected byte") }
    }

    private mutating func readKey() throws -> Key {
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a key") }
        let (raw, escaped) = try scanString()
        return Key(bytes: raw, decoded: escaped ? try Self.unescape(raw, at: index) : nil)
    }

    /// The bytes between the quotes of the string that comes next, and whether they hold escapes.
    private mutating func scanString() throws -> (UnsafeRawBufferPointer, Bool) {
        try expect(UInt8(ascii: "\""))
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return (raw, escaped)
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
                continue
            }
            if byte < 0x20 { throw failure("control character in a string") }
            index += 1
        }
        throw Failure(offset: start, reason: "unfinished string")
    }

    private static func unescape(_ raw: UnsafeRawBufferPointer, at offset: Int) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= raw.count else { throw Failure(offset: offset, reason: "short \\u escape") }
            var value: UInt32 = 0
            for byte in raw[at..<(at + 4)] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw Failure(offset: offset, reason: "bad \\u escape")
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\"), i + 1 < raw.count else {
                out.append(byte)
                i += 1
                continue
            }
            let escape = raw[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar), i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") {
                    let low = try hex4(i + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                // A lone surrogate becomes U+FFFD, as JSONDecoder would refuse or replace it.
                let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: String(character).utf8)
            default:
                throw Failure(offset: offset, reason: "bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func failure(_ reason: String) -> Failure {
        Failure(offset: index, reason: reason)
    }
}
