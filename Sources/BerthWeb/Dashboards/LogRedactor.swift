import EngineAPI

/// Masks what a dashboard's redaction rules match in log lines, before the lines leave the server.
///
/// The rules are written by people and run against every line a dashboard shows, so they run in bounded time:
/// `LinearRegex` takes time linear in the line for any pattern (no backtracking: `(a+)+b` costs what `a+b` costs),
/// the rules of one dashboard are capped in size together, and a line is checked up to a budget of matcher steps;
/// what lies beyond it is not shown, and the line says so.
final class LogRedactor: Sendable {
    static let mask = "[redacted]"
    static let maxRules = 20
    static let maxPatternLength = 256
    /// The size of all of a dashboard's rules together, in matcher instructions (a plain rule takes tens).
    static let maxTotalProgramSize = 1500
    /// Work one line may take: characters × instructions, about 10 ms in a release build.
    static let lineBudget = 2_000_000

    private let rules: [LinearRegex]
    /// A saved rule can't be used (saved before this matcher, with syntax it refuses, or too much together): no line
    /// is shown rather than one a rule was meant to mask.
    let isUnusable: Bool
    /// How many characters of a line are checked; the rest is cut.
    let checkedLength: Int

    static let withheld = "[line withheld: a redaction rule of this dashboard can't be used; its owner must save the dashboard again]"

    init(patterns: [String]) {
        let compiled = patterns.map { try? LinearRegex($0) }
        rules = compiled.compactMap { $0 }
        let size = rules.reduce(0) { $0 + $1.programSize }
        isUnusable = rules.count < compiled.count || size > Self.maxTotalProgramSize
        checkedLength = max(1024, Self.lineBudget / max(size, 1))
    }

    var isEmpty: Bool { rules.isEmpty && !isUnusable }

    func redact(_ text: String) -> String {
        if isUnusable { return Self.withheld }
        guard !rules.isEmpty else { return text }
        var text = text
        var cut = ""
        if text.unicodeScalars.count > checkedLength {
            let end = text.unicodeScalars.index(text.unicodeScalars.startIndex, offsetBy: checkedLength)
            cut = " [\(text.unicodeScalars.count - checkedLength) more characters not shown: too long to check against the redaction rules]"
            text = String(text.unicodeScalars[..<end])
        }
        // Every rule looks at the line as written (never at another rule's mask), and what any of them matched is
        // masked once.
        var ranges: [Range<String.Index>] = []
        for rule in rules { ranges += rule.matches(in: text) }
        guard !ranges.isEmpty else { return text + cut }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var masked = ""
        var position = text.startIndex
        for range in ranges where range.upperBound > position {
            if range.lowerBound >= position {
                masked += text[position..<range.lowerBound]
                masked += Self.mask
            }
            position = range.upperBound
        }
        masked += text[position...]
        return masked + cut
    }

    /// Redacts every line, letting other work run between lines: a dashboard's log never holds a thread for long.
    func redact(_ lines: LogBatch) async -> LogBatch {
        guard !isEmpty else { return lines }
        var result = LogBatch()
        result.reserveCapacity(lines: lines.count, bytes: lines.byteCount)
        for entry in lines.entries {
            var text = redact(lines.text(of: entry))
            text.withUTF8 { result.append(stream: entry.stream, timestamp: entry.timestamp, bytes: $0, truncated: entry.truncated) }
            await Task.yield()
        }
        return result
    }

    /// Why a rule can't be used, or nil when it can.
    static func problem(with pattern: String) -> String? {
        guard pattern.count <= maxPatternLength else { return "is longer than \(maxPatternLength) characters" }
        let rule: LinearRegex
        do {
            rule = try LinearRegex(pattern)
        } catch {
            return error.description
        }
        // A rule that matches empty text would put the mask between every two characters.
        if rule.matchesEmpty { return "matches empty text" }
        return nil
    }

    /// Why a set of rules is too much together, or nil.
    static func problem(withRules patterns: [String]) -> String? {
        let size = patterns.compactMap { try? LinearRegex($0) }.reduce(0) { $0 + $1.programSize }
        guard size <= maxTotalProgramSize else {
            return "The redaction rules are too complex together (use fewer or simpler rules, smaller repetition counts)."
        }
        return nil
    }
}
