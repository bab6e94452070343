import Foundation

/// The fields of an `application/x-www-form-urlencoded` body. Repeated keys keep every value, in order.
struct FormFields: Sendable {
    private var fields: [(String, String)] = []
    /// Fields whose value did not decode (invalid percent escapes, or bytes that are not UTF-8): kept as sent.
    private(set) var undecoded: Set<String> = []

    init(_ body: String) {
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(parts[0]) ?? String(parts[0])
            let raw = parts.count > 1 ? parts[1] : ""
            let value = Self.decode(raw)
            if value == nil { undecoded.insert(key) }
            fields.append((key, value ?? raw.replacingOccurrences(of: "+", with: " ")))
        }
    }

    /// The first value of `key`.
    subscript(_ key: String) -> String? {
        fields.first { $0.0 == key }?.1
    }

    /// Whether a checkbox `key` was ticked (browsers send its value, `on` by default).
    func isChecked(_ key: String) -> Bool {
        ["1", "on", "true", "yes"].contains(self[key] ?? "")
    }

    /// The non-empty lines of a textarea, trimmed.
    func lines(_ key: String) -> [String] {
        (self[key] ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The name of the first field whose value satisfies `predicate` (one pass over the fields).
    func firstField(where predicate: (String) -> Bool) -> String? {
        fields.first { predicate($0.1) }?.0
    }

    /// Every value of `key`.
    func values(_ key: String) -> [String] {
        fields.filter { $0.0 == key }.map(\.1)
    }

    /// nil when the escapes are invalid or make no UTF-8 (the field is then kept literally rather than dropped).
    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
