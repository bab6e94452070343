import EngineAPI
import Foundation

/// Masks what a dashboard's redaction rules match in log lines, before the lines leave the server.
///
/// `NSRegularExpression` is immutable once made and safe to use from several threads.
final class LogRedactor: @unchecked Sendable {
    static let mask = "[redacted]"
    static let maxRules = 20
    static let maxPatternLength = 256

    private let expressions: [NSRegularExpression]

    /// Rules that do not compile are refused when a dashboard is saved; here they are skipped.
    init(patterns: [String]) {
        expressions = patterns.compactMap { try? NSRegularExpression(pattern: $0) }
    }

    var isEmpty: Bool { expressions.isEmpty }

    func redact(_ text: String) -> String {
        var text = text
        for expression in expressions {
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            guard expression.firstMatch(in: text, range: range) != nil else { continue }
            text = expression.stringByReplacingMatches(in: text, range: range, withTemplate: NSRegularExpression.escapedTemplate(for: Self.mask))
        }
        return text
    }

    func redact(_ lines: LogBatch) -> LogBatch {
        guard !expressions.isEmpty else { return lines }
        return lines.mapText(redact)
    }

    /// Why a rule can't be used, or nil when it can.
    static func problem(with pattern: String) -> String? {
        guard pattern.count <= maxPatternLength else { return "is longer than \(maxPatternLength) characters" }
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return "is not a valid regular expression" }
        // A rule that matches empty text would put the mask between every two characters.
        if expression.firstMatch(in: "", range: NSRange(location: 0, length: 0)) != nil { return "matches empty text" }
        return nil
    }
}
