/// A regular expression matched in time linear in the text, because redaction rules are user-written and run on the server against every log line.
///
/// The pattern is parsed once into a small instruction program (Thompson NFA); matching simulates every possible
/// path at once, one character at a time, so `(a+)+b` against a long run of `a`s costs the same as `ab`: at most
/// text length × program size steps. The program is immutable, so one value may be shared between threads.
///
/// Semantics, chosen for masking (mask more rather than less):
/// - Matches are leftmost-longest (POSIX): `a|ab` on "ab" matches "ab". Lazy quantifiers are accepted and act greedy.
/// - Matching works on Unicode scalars: `.` and classes consume one scalar; `.` matches anything but "\n".
/// - `\d`, `\w`, `\s` and `\b` follow Unicode, like `NSRegularExpression` (`\d` is any decimal digit).
/// - `^` and `$` are the start and end of the whole text (no multi-line mode).
/// - `(?i)` folds case for ASCII and for scalars with a one-scalar upper/lower/title case mapping. It is folded
///   into the classes when the pattern is compiled, so matching never maps case.
/// - `replacingMatches` replaces non-overlapping matches left to right; an empty match right where the previous
///   match ended is skipped, and after an empty match the search moves on one scalar (as Go and RE2 do).
struct LinearRegex: Sendable {
    /// Why a pattern can't be used, as a fragment meant to follow "The pattern …".
    struct SyntaxError: Error, CustomStringConvertible, Equatable, Sendable {
        let description: String

        init(_ description: String) { self.description = description }

        static func unsupported(_ what: String) -> SyntaxError {
            SyntaxError("uses \(what), which redaction rules don't support")
        }

        static let backReference = unsupported("a back-reference")
        static let lookahead = unsupported("a lookahead")
        static let lookbehind = unsupported("a lookbehind")
        static let atomicGroup = unsupported("an atomic group")
        static let possessive = unsupported("a possessive quantifier")
        static let unclosedGroup = SyntaxError("has an unclosed group")
        static let unmatchedParenthesis = SyntaxError("has a closing parenthesis without an opening one")
        static let nothingToRepeat = SyntaxError("has a quantifier with nothing to repeat")
        static let doubleQuantifier = SyntaxError("has two quantifiers in a row (put the first in a group)")
        static let countTooLarge = SyntaxError("has a repetition count above \(LinearRegex.maxRepetitionCount)")
        static let reversedCount = SyntaxError("has a repetition range whose minimum exceeds its maximum")
        static let unclosedClass = SyntaxError("has an unclosed character class")
        static let reversedRange = SyntaxError("has a character range that runs backwards")
        static let trailingBackslash = SyntaxError("ends with a lone backslash")
        static let badHexEscape = SyntaxError("has an invalid hexadecimal escape")
        static let badGroupName = SyntaxError("has an invalid group name")
        static let unknownPOSIXClass = SyntaxError("has an unknown POSIX class")
        static let tooDeep = SyntaxError("nests groups too deeply")
        static let tooComplex = SyntaxError("is too complex (use smaller repetition counts)")
    }

    /// The largest `programSize`. Counted repetition is expanded, so this is what bounds the per-character work of
    /// `(a{100}){100}` and the like.
    static let maxProgramSize = 4000
    /// The largest n or m in `{n,m}`.
    static let maxRepetitionCount = 1000
    /// How deeply groups may nest; keeps the recursive parser and compiler far from the stack's end.
    static let maxGroupDepth = 64

    let pattern: String
    /// Whether some text has an empty match (`a*`, `x?`, `a|`, `$`, `\b`). Such a rule would insert its
    /// replacement without masking anything, or between every two characters.
    let matchesEmpty: Bool
    /// The compiled program's size in instruction-steps, at most `maxProgramSize`: its instructions, where a class
    /// with many ranges counts the extra steps its binary search takes (see `CharClass.cost`), plus what looking up
    /// the Unicode properties it uses (`\d`, `\w`, `\s`, `\b`) costs per scalar (`CharClass.lookupCost`). Matching a
    /// text costs at most about its length in scalars times this many steps, a step being a few nanoseconds.
    let programSize: Int

    private let program: Program

    init(_ pattern: String) throws(SyntaxError) {
        var parser = Parser(pattern)
        let tree = try parser.parse()
        programSize = Compiler.size(of: tree) + 1 + CharClass.lookupCost(Compiler.propertiesLookedUp(in: tree))
        guard programSize <= Self.maxProgramSize else { throw .tooComplex }
        var compiler = Compiler()
        compiler.emit(tree)
        compiler.emit(Op.match)
        self.pattern = pattern
        program = Program(code: compiler.code, classes: compiler.classes)
        matchesEmpty = program.nullable
    }

    /// The leftmost match, and of those starting there the longest.
    func firstMatch(in text: String) -> Range<String.Index>? {
        var contiguous = text
        guard let found = contiguous.withUTF8({ program.scan($0, firstOnly: true).first }) else { return nil }
        let utf8 = text.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: found.lowerBound)
        return lower..<utf8.index(lower, offsetBy: found.count)
    }

    /// Every match `replacingMatches` would replace, in order.
    func matches(in text: String) -> [Range<String.Index>] {
        var contiguous = text
        let found = contiguous.withUTF8 { program.scan($0, firstOnly: false) }
        let utf8 = text.utf8
        var index = utf8.startIndex, offset = 0
        return found.map { range in
            let lower = utf8.index(index, offsetBy: range.lowerBound - offset)
            index = utf8.index(lower, offsetBy: range.count)
            offset = range.upperBound
            return lower..<index
        }
    }

    /// The text with each match replaced by `replacement`, taken literally (no `$1`).
    func replacingMatches(in text: String, with replacement: String) -> String {
        var contiguous = text
        return contiguous.withUTF8 { bytes in
            let found = program.scan(bytes, firstOnly: false)
            guard !found.isEmpty else { return text }
            var output: [UInt8] = []
            output.reserveCapacity(bytes.count + found.count * replacement.utf8.count)
            var kept = 0
            for range in found {
                output.append(contentsOf: bytes[kept..<range.lowerBound])
                output.append(contentsOf: replacement.utf8)
                kept = range.upperBound
            }
            output.append(contentsOf: bytes[kept..<bytes.count])
            return String(decoding: output, as: UTF8.self)
        }
    }
}

// MARK: - Syntax tree

private enum Assertion: Int32 {
    case textStart = 0, textEnd, wordBoundary, notWordBoundary
}

private indirect enum Node {
    case empty
    case scalar(UInt32)
    case set(CharClass)
    case anyButNewline
    case assertion(Assertion)
    case concatenation([Node])
    case alternation([Node])
    /// `maximum` nil: unbounded.
    case repetition(Node, minimum: Int, maximum: Int?)
}

/// A bracket class, a class escape such as `\d`, or (under `(?i)`) a letter and its other cases, as the parser
/// collects it. `compiled` folds case and sorts the ranges, so matching never maps case.
private struct ClassBuilder {
    var ranges: [ClosedRange<UInt32>] = []
    var properties: [(property: CharClass.Property, negated: Bool)] = []
    var negated = false
    var caseInsensitive = false

    init(caseInsensitive: Bool = false) { self.caseInsensitive = caseInsensitive }

    init(_ property: CharClass.Property, negated: Bool) { properties = [(property, negated)] }

    mutating func add(_ scalar: UInt32) { add(scalar...scalar) }

    mutating func add(_ range: ClosedRange<UInt32>) {
        ranges.append(range)
        // A lone letter also gets its other cases, so a scalar that only folds one way still meets it.
        if caseInsensitive, range.count == 1 {
            for variant in CharClass.caseVariants(of: range.lowerBound) { ranges.append(variant...variant) }
        }
    }

    /// The class with case folded in: under `(?i)` a scalar belongs if it or one of its other cases (see
    /// `caseVariants`) is in the class as written, so every scalar with a case variant in it is added here.
    func compiled() -> CharClass {
        let included = properties.reduce(0) { $1.negated ? $0 : $0 | $1.property.rawValue }
        let excluded = properties.reduce(0) { $1.negated ? $0 | $1.property.rawValue : $0 }
        var all = ranges
        if caseInsensitive {
            let folds = CharClass.caseFolds
            for range in ranges {
                // The first pair whose variant is at least the range's start.
                var low = 0, high = folds.count
                while low < high {
                    let middle = (low + high) / 2
                    if folds[middle] >> 32 < range.lowerBound { low = middle + 1 } else { high = middle }
                }
                while low < folds.count, folds[low] >> 32 <= range.upperBound {
                    let scalar = UInt32(truncatingIfNeeded: folds[low])
                    all.append(scalar...scalar)
                    low += 1
                }
            }
            if included | excluded != 0 {
                for fold in folds {
                    let bits = CharClass.propertyBits(of: UInt32(fold >> 32))
                    guard bits & included != 0 || ~bits & excluded != 0 else { continue }
                    let scalar = UInt32(truncatingIfNeeded: fold)
                    all.append(scalar...scalar)
                }
            }
        }
        all.sort { $0.lowerBound < $1.lowerBound }
        var bounds: [UInt32] = []
        for range in all {
            if let last = bounds.last, range.lowerBound <= last + 1 {
                bounds[bounds.count - 1] = max(last, range.upperBound)
            } else {
                bounds.append(range.lowerBound)
                bounds.append(range.upperBound)
            }
        }
        return CharClass(bounds: bounds, included: included, excluded: excluded, negated: negated)
    }
}

/// A compiled class: sorted, disjoint, non-adjacent ranges with case already folded in, the Unicode properties
/// (`\d`, `\w`, `\s`) whose scalars belong or whose other scalars belong (`[\D]`), and negation. A scalar is tested
/// with a bit test (ASCII, see `Program.ascii`) or a binary search over the ranges: no case mapping, no allocation.
private struct CharClass: Hashable, Sendable {
    /// As bits, so a class holds a set of them and a scalar's properties are looked up once per position.
    enum Property: Int, Sendable {
        case digit = 1, word = 2, space = 4
    }

    /// Lower and upper bound of each range, in order.
    let bounds: [UInt32]
    /// Properties whose scalars belong, and those whose non-scalars belong.
    let included: Int, excluded: Int
    let negated: Bool

    func contains(_ scalar: UInt32) -> Bool {
        var low = 0, high = bounds.count / 2
        while low < high {
            let middle = (low + high) / 2
            if bounds[2 * middle + 1] < scalar { low = middle + 1 } else { high = middle }
        }
        var hit = low < bounds.count / 2 && bounds[2 * low] <= scalar
        if !hit, included | excluded != 0 {
            let bits = Self.propertyBits(of: scalar)
            hit = bits & included != 0 || ~bits & excluded != 0
        }
        return hit != negated
    }

    /// The ranges' non-ASCII parts (ASCII is a bit test), as lower and upper bounds.
    var nonASCIIBounds: [UInt32] {
        var result: [UInt32] = []
        for index in stride(from: 0, to: bounds.count, by: 2) where bounds[index + 1] >= 0x80 {
            result.append(max(bounds[index], 0x80))
            result.append(bounds[index + 1])
        }
        return result
    }

    /// Whether some non-ASCII scalar may belong.
    var mayContainNonASCII: Bool { negated || included | excluded != 0 || (bounds.last ?? 0) >= 0x80 }

    /// What testing a non-ASCII scalar costs, in instruction-steps (one step is a bit test and a thread's move):
    /// one, plus one for every two halvings of the binary search beyond the first two.
    var cost: Int {
        var ranges = 0
        for index in stride(from: 1, to: bounds.count, by: 2) where bounds[index] >= 0x80 { ranges += 1 }
        return 1 + max(0, (Int.bitWidth - ranges.leadingZeroBitCount) - 2) / 2
    }

    /// What looking up these properties (bits) of a non-ASCII scalar costs, in instruction-steps of 5 ns: the
    /// standard library takes up to about 120 ns for `\d` (its general category), 100 ns for `\w` and 60 ns for `\s`.
    /// A matcher looks each one up at most once per scalar, however many classes and threads ask.
    static func lookupCost(_ properties: Int) -> Int {
        (properties & Property.digit.rawValue != 0 ? 24 : 0) + (properties & Property.word.rawValue != 0 ? 24 : 0)
            + (properties & Property.space.rawValue != 0 ? 12 : 0)
    }

    static func propertyBits(of scalar: UInt32) -> Int {
        (isDigit(scalar) ? Property.digit.rawValue : 0) | (isWord(scalar) ? Property.word.rawValue : 0)
            | (isSpace(scalar) ? Property.space.rawValue : 0)
    }

    /// Which of the `wanted` properties the scalar has, as bits, looking up only those not already in `cache`:
    /// which were looked up (bits << 3) and which of those hold (bits). Start with 0 for each scalar.
    static func properties(_ wanted: Int, of scalar: UInt32, cache: inout Int) -> Int {
        let missing = wanted & ~(cache >> 3)
        if missing != 0 {
            var holding = 0
            if missing & Property.digit.rawValue != 0, isDigit(scalar) { holding |= Property.digit.rawValue }
            if missing & Property.word.rawValue != 0, isWord(scalar) { holding |= Property.word.rawValue }
            if missing & Property.space.rawValue != 0, isSpace(scalar) { holding |= Property.space.rawValue }
            cache |= missing << 3 | holding
        }
        return cache & wanted
    }

    static func isDigit(_ scalar: UInt32) -> Bool {
        if scalar < 0x80 { return scalar >= 0x30 && scalar <= 0x39 }
        return Unicode.Scalar(scalar)?.properties.generalCategory == .decimalNumber
    }

    static func isSpace(_ scalar: UInt32) -> Bool {
        if scalar < 0x80 { return scalar == 0x20 || (scalar >= 0x09 && scalar <= 0x0D) }
        return Unicode.Scalar(scalar)?.properties.isWhitespace ?? false
    }

    /// ICU's `\w`: letters, marks, decimal digits, connector punctuation, and the zero-width (non-)joiners.
    static func isWord(_ scalar: UInt32) -> Bool {
        if scalar < 0x80 {
            let lower = scalar | 0x20
            return (lower >= 0x61 && lower <= 0x7A) || (scalar >= 0x30 && scalar <= 0x39) || scalar == 0x5F
        }
        if scalar == 0x200C || scalar == 0x200D { return true }
        guard let properties = Unicode.Scalar(scalar)?.properties else { return false }
        if properties.isAlphabetic { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// The scalar's other cases, where each is a single scalar (so "ß" has none: its uppercase is "SS").
    /// Used only while compiling (see `caseFolds`).
    static func caseVariants(of scalar: UInt32) -> [UInt32] {
        if scalar < 0x80 {
            let lower = scalar | 0x20
            guard lower >= 0x61, lower <= 0x7A else { return [] }
            return [scalar ^ 0x20]
        }
        guard let properties = Unicode.Scalar(scalar)?.properties, properties.changesWhenCaseMapped else { return [] }
        var variants: [UInt32] = []
        for mapping in [properties.lowercaseMapping, properties.uppercaseMapping, properties.titlecaseMapping] {
            let scalars = mapping.unicodeScalars
            if scalars.count == 1, let only = scalars.first?.value, only != scalar, !variants.contains(only) {
                variants.append(only)
            }
        }
        return variants
    }

    /// Every scalar with a case mapping is below this: in planes 0 and 1 (the last, in Unicode 16, is U+1E943).
    static let casedLimit: UInt32 = 0x20000

    /// Every (variant, scalar) pair with `variant` in `caseVariants(of: scalar)`, as `variant << 32 | scalar`,
    /// sorted: about 3,000, computed once (a few milliseconds), the first time a `(?i)` pattern is compiled.
    static let caseFolds: [UInt64] = {
        var folds: [UInt64] = []
        var value: UInt32 = 0
        while value < casedLimit {
            if value < 0x80 || Unicode.Scalar(value)?.properties.changesWhenCaseMapped == true {
                for variant in caseVariants(of: value) { folds.append(UInt64(variant) << 32 | UInt64(value)) }
            }
            value += 1
        }
        return folds.sorted()
    }()
}

// MARK: - Parser

/// Recursive descent over the pattern's scalars. Groups nest at most `maxGroupDepth` deep, which bounds recursion.
private struct Parser {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var caseInsensitive = false
    private var depth = 0

    init(_ pattern: String) { scalars = Array(pattern.unicodeScalars) }

    private var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    private func scalar(at position: Int) -> Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    mutating func parse() throws(LinearRegex.SyntaxError) -> Node {
        let tree = try parseAlternation()
        // parseAlternation stops only at the end or at a ")" with no group open.
        if index < scalars.count { throw .unmatchedParenthesis }
        return tree
    }

    private mutating func parseAlternation() throws(LinearRegex.SyntaxError) -> Node {
        var branches = [try parseConcatenation()]
        while peek == "|" {
            index += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcatenation() throws(LinearRegex.SyntaxError) -> Node {
        var items: [Node] = []
        while let next = peek, next != "|", next != ")" {
            if try quantifierAhead() { throw .nothingToRepeat }
            let atomStart = index
            // nil: an inline flag such as `(?i)`, which matches nothing and can't be repeated.
            guard let atom = try parseAtom() else { continue }
            guard let (minimum, maximum) = try parseQuantifier() else {
                items.append(atom)
                continue
            }
            // A bare `^`, `$` or `\b` can't be repeated (a group holding one can, as in PCRE).
            if case .assertion = atom, scalars[atomStart] != "(" { throw .nothingToRepeat }
            if peek == "?" {
                index += 1  // Lazy: accepted, but leftmost-longest anyway.
            } else if peek == "+" {
                throw .possessive
            }
            if try quantifierAhead() { throw .doubleQuantifier }
            items.append(.repetition(atom, minimum: minimum, maximum: maximum))
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concatenation(items)
        }
    }

    private func quantifierAhead() throws(LinearRegex.SyntaxError) -> Bool {
        var probe = self
        return try probe.parseQuantifier() != nil
    }

    /// `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` or `{,m}`; nil (consuming nothing) for anything else, so a `{` that
    /// doesn't open a valid count is a literal, as in PCRE.
    private mutating func parseQuantifier() throws(LinearRegex.SyntaxError) -> (Int, Int?)? {
        switch peek {
        case "*": index += 1; return (0, nil)
        case "+": index += 1; return (1, nil)
        case "?": index += 1; return (0, 1)
        case "{": break
        default: return nil
        }
        var position = index + 1
        let minimum = number(at: &position)
        var maximum = minimum
        if scalar(at: position) == "," {
            position += 1
            maximum = number(at: &position)
            guard minimum != nil || maximum != nil else { return nil }
        }
        guard scalar(at: position) == "}", minimum != nil || maximum != nil else { return nil }
        index = position + 1
        let lower = minimum ?? 0
        if lower > LinearRegex.maxRepetitionCount || (maximum ?? 0) > LinearRegex.maxRepetitionCount {
            throw .countTooLarge
        }
        if let maximum, maximum < lower { throw .reversedCount }
        return (lower, maximum)
    }

    /// Decimal digits at `position`, saturating well above any allowed count.
    private func number(at position: inout Int) -> Int? {
        var value: Int?
        while let digit = scalar(at: position), let digitValue = Self.digitValue(digit) {
            value = min((value ?? 0) * 10 + digitValue, 1_000_000)
            position += 1
        }
        return value
    }

    private static func digitValue(_ scalar: Unicode.Scalar) -> Int? {
        scalar.value >= 0x30 && scalar.value <= 0x39 ? Int(scalar.value - 0x30) : nil
    }

    private mutating func parseAtom() throws(LinearRegex.SyntaxError) -> Node? {
        guard let first = peek else { return .empty }
        index += 1
        switch first {
        case "(": return try parseGroup()
        case "[": return .set(try parseClass())
        case ".": return .anyButNewline
        case "^": return .assertion(.textStart)
        case "$": return .assertion(.textEnd)
        case "\\": return try parseEscape()
        default: return literal(first.value)
        }
    }

    private func literal(_ scalar: UInt32) -> Node {
        guard caseInsensitive, !CharClass.caseVariants(of: scalar).isEmpty else { return .scalar(scalar) }
        var set = ClassBuilder(caseInsensitive: true)
        set.add(scalar)
        return .set(set.compiled())
    }

    /// After "(". Returns nil for a flag-only group such as `(?i)`, whose flags last to the end of the enclosing group.
    private mutating func parseGroup() throws(LinearRegex.SyntaxError) -> Node? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= LinearRegex.maxGroupDepth else { throw .tooDeep }
        let outerCaseInsensitive = caseInsensitive
        if peek == "?" {
            index += 1
            switch peek {
            case ":":
                index += 1
            case "=", "!":
                throw .lookahead
            case ">":
                throw .atomicGroup
            case "<":
                if scalar(at: index + 1) == "=" || scalar(at: index + 1) == "!" { throw .lookbehind }
                index += 1
                try skipGroupName(until: ">")
            case "'":
                index += 1
                try skipGroupName(until: "'")
            case "P":
                index += 1
                switch peek {
                case "<": index += 1; try skipGroupName(until: ">")
                case "=": throw .backReference
                default: throw .unsupported("a recursive or unknown group")
                }
            case "i", "-":
                // (?i) (?-i) (?i:...) (?-i:...)
                var enable = true
                var sawFlag = false
                while let flag = peek, flag != ")", flag != ":" {
                    if flag == "-", enable {
                        enable = false
                    } else if flag == "i" {
                        caseInsensitive = enable
                        sawFlag = true
                    } else {
                        throw .unsupported("the inline flag (?\(flag))")
                    }
                    index += 1
                }
                guard let end = peek else { throw .unclosedGroup }
                guard sawFlag else { throw .unsupported("an empty flag group") }
                index += 1
                if end == ")" { return nil }  // Keep the flag for the rest of the enclosing group.
            case nil:
                throw .unclosedGroup
            case let .some(other):
                if other.properties.isAlphabetic { throw .unsupported("the inline flag (?\(other))") }
                throw .unsupported("the group construct (?\(other)")
            }
        }
        let body = try parseAlternation()
        guard peek == ")" else { throw .unclosedGroup }
        index += 1
        caseInsensitive = outerCaseInsensitive
        return body
    }

    /// Named groups count as plain groups; the name only has to be well formed.
    private mutating func skipGroupName(until terminator: Unicode.Scalar) throws(LinearRegex.SyntaxError) {
        let start = index
        while let next = peek, next != terminator {
            let isDigit = Self.digitValue(next) != nil
            guard next.isASCII, next == "_" || next.properties.isAlphabetic || (isDigit && index > start) else {
                throw .badGroupName
            }
            index += 1
        }
        guard peek == terminator else { throw .unclosedGroup }
        guard index > start else { throw .badGroupName }
        index += 1
    }

    /// After a "\" outside a class.
    private mutating func parseEscape() throws(LinearRegex.SyntaxError) -> Node {
        guard let escaped = peek else { throw .trailingBackslash }
        index += 1
        switch escaped {
        case "d": return .set(ClassBuilder(.digit, negated: false).compiled())
        case "D": return .set(ClassBuilder(.digit, negated: true).compiled())
        case "w": return .set(ClassBuilder(.word, negated: false).compiled())
        case "W": return .set(ClassBuilder(.word, negated: true).compiled())
        case "s": return .set(ClassBuilder(.space, negated: false).compiled())
        case "S": return .set(ClassBuilder(.space, negated: true).compiled())
        case "b": return .assertion(.wordBoundary)
        case "B": return .assertion(.notWordBoundary)
        case "A": return .assertion(.textStart)
        case "z", "Z": return .assertion(.textEnd)
        case "1"..."9", "k", "g": throw .backReference
        default: return literal(try plainEscape(escaped))
        }
    }

    /// Escapes that stand for one scalar, inside or outside a class.
    private mutating func plainEscape(_ escaped: Unicode.Scalar) throws(LinearRegex.SyntaxError) -> UInt32 {
        switch escaped {
        case "t": return 0x09
        case "n": return 0x0A
        case "v": return 0x0B
        case "f": return 0x0C
        case "r": return 0x0D
        case "a": return 0x07
        case "e": return 0x1B
        case "x":
            if peek == "{" {
                index += 1
                return try hexadecimal(maximumDigits: 6, until: "}")
            }
            return try hexadecimal(exactDigits: 2)
        case "u": return try hexadecimal(exactDigits: 4)
        default:
            // Escaped punctuation (and any other non-alphanumeric scalar) is itself; letters and digits would
            // be escapes this matcher doesn't know, so they are refused rather than guessed at.
            if escaped.isASCII, escaped.properties.isAlphabetic || Self.digitValue(escaped) != nil {
                throw .unsupported("the escape \\\(escaped)")
            }
            return escaped.value
        }
    }

    private mutating func hexadecimal(exactDigits: Int) throws(LinearRegex.SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<exactDigits {
            guard let next = peek, let digit = Self.hexValue(next) else { throw .badHexEscape }
            value = value * 16 + digit
            index += 1
        }
        return try validScalar(value)
    }

    private mutating func hexadecimal(
        maximumDigits: Int, until terminator: Unicode.Scalar
    ) throws(LinearRegex.SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        var digits = 0
        while let next = peek, next != terminator {
            guard let digit = Self.hexValue(next), digits < maximumDigits else { throw .badHexEscape }
            value = value * 16 + digit
            digits += 1
            index += 1
        }
        guard peek == terminator, digits > 0 else { throw .badHexEscape }
        index += 1
        return try validScalar(value)
    }

    private func validScalar(_ value: UInt32) throws(LinearRegex.SyntaxError) -> UInt32 {
        guard Unicode.Scalar(value) != nil else { throw .badHexEscape }
        return value
    }

    private static func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar.value {
        case 0x30...0x39: scalar.value - 0x30
        case 0x41...0x46: scalar.value - 0x41 + 10
        case 0x61...0x66: scalar.value - 0x61 + 10
        default: nil
        }
    }

    private enum ClassItem {
        case scalar(UInt32)
        case property(CharClass.Property, negated: Bool)
    }

    /// After "[". A "]" first (after any "^") is literal, as is a "-" first, last, or next to a class escape.
    private mutating func parseClass() throws(LinearRegex.SyntaxError) -> CharClass {
        var set = ClassBuilder(caseInsensitive: caseInsensitive)
        if peek == "^" {
            set.negated = true
            index += 1
        }
        var first = true
        while true {
            guard let next = peek else { throw .unclosedClass }
            if next == "]", !first {
                index += 1
                return set.compiled()
            }
            first = false
            if next == "[", scalar(at: index + 1) == ":" {
                try parsePOSIXClass(into: &set)
                continue
            }
            let item = try parseClassItem()
            guard case let .scalar(lower) = item, peek == "-", let afterDash = scalar(at: index + 1), afterDash != "]"
            else {
                add(item, to: &set)
                continue
            }
            index += 1  // the "-"
            let upperItem = try parseClassItem()
            guard case let .scalar(upper) = upperItem else {
                // `[a-\d]`: no range, so the "-" is literal.
                set.add(lower)
                set.add(0x2D)
                add(upperItem, to: &set)
                continue
            }
            guard lower <= upper else { throw .reversedRange }
            set.add(lower...upper)
        }
    }

    private func add(_ item: ClassItem, to set: inout ClassBuilder) {
        switch item {
        case let .scalar(scalar): set.add(scalar)
        case let .property(property, negated): set.properties.append((property, negated))
        }
    }

    private mutating func parseClassItem() throws(LinearRegex.SyntaxError) -> ClassItem {
        guard let next = peek else { throw .unclosedClass }
        index += 1
        guard next == "\\" else { return .scalar(next.value) }
        guard let escaped = peek else { throw .trailingBackslash }
        index += 1
        switch escaped {
        case "d": return .property(.digit, negated: false)
        case "D": return .property(.digit, negated: true)
        case "w": return .property(.word, negated: false)
        case "W": return .property(.word, negated: true)
        case "s": return .property(.space, negated: false)
        case "S": return .property(.space, negated: true)
        case "b": return .scalar(0x08)  // Backspace, as in PCRE.
        case "1"..."9": throw .backReference
        default: return .scalar(try plainEscape(escaped))
        }
    }

    /// `[:alpha:]` and friends, ASCII only, inside a bracket class.
    private mutating func parsePOSIXClass(into set: inout ClassBuilder) throws(LinearRegex.SyntaxError) {
        index += 2  // "[:"
        var name = ""
        while let next = peek, next != ":" {
            guard next.isASCII, next.properties.isAlphabetic, name.unicodeScalars.count < 10 else {
                throw .unknownPOSIXClass
            }
            name.unicodeScalars.append(next)
            index += 1
        }
        guard peek == ":", scalar(at: index + 1) == "]" else { throw .unknownPOSIXClass }
        index += 2
        let ranges: [ClosedRange<UInt32>]
        switch name {
        case "alpha": ranges = [0x41...0x5A, 0x61...0x7A]
        case "digit": ranges = [0x30...0x39]
        case "alnum": ranges = [0x30...0x39, 0x41...0x5A, 0x61...0x7A]
        case "word": ranges = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
        case "upper": ranges = [0x41...0x5A]
        case "lower": ranges = [0x61...0x7A]
        case "space": ranges = [0x09...0x0D, 0x20...0x20]
        case "blank": ranges = [0x09...0x09, 0x20...0x20]
        case "xdigit": ranges = [0x30...0x39, 0x41...0x46, 0x61...0x66]
        case "punct": ranges = [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E]
        case "cntrl": ranges = [0x00...0x1F, 0x7F...0x7F]
        case "print": ranges = [0x20...0x7E]
        case "graph": ranges = [0x21...0x7E]
        default: throw .unknownPOSIXClass
        }
        set.ranges.append(contentsOf: ranges)
    }
}

// MARK: - Program

/// Instruction opcodes. Each instruction is three Int32s: opcode, x, y.
private enum Op {
    /// Consume the scalar x.
    static let scalar: Int32 = 0
    /// Consume any scalar but "\n".
    static let any: Int32 = 1
    /// Consume a scalar in class x.
    static let set: Int32 = 2
    /// Continue at both x and y.
    static let split: Int32 = 3
    /// Continue at x.
    static let jump: Int32 = 4
    /// Continue at the next instruction if assertion x holds here.
    static let assert: Int32 = 5
    static let match: Int32 = 6
}

private struct Compiler {
    var code: [Int32] = []
    /// Each distinct class once: `[^x]{1000}` has a thousand instructions but one class.
    var classes: [CharClass] = []
    private var classIndex: [CharClass: Int] = [:]

    var count: Int { code.count / 3 }

    /// What `emit` will produce, in instruction-steps (instructions, a class counting what testing it costs),
    /// saturating just past the limit so huge counts can't overflow.
    static func size(of node: Node) -> Int {
        let cap = LinearRegex.maxProgramSize + 1
        switch node {
        case .empty:
            return 0
        case .scalar, .anyButNewline, .assertion:
            return 1
        case let .set(set):
            return set.cost
        case let .concatenation(items):
            return items.reduce(0) { min($0 + size(of: $1), cap) }
        case let .alternation(branches):
            return min(branches.reduce(0) { min($0 + size(of: $1), cap) } + 2 * (branches.count - 1), cap)
        case let .repetition(body, minimum, maximum):
            let each = size(of: body)
            guard let maximum else { return min(minimum == 0 ? each + 2 : minimum * each + 1, cap) }
            return min(minimum * each + (maximum - minimum) * (each + 1), cap)
        }
    }

    /// The Unicode properties the node's classes and word boundaries look up, as `CharClass.Property` bits.
    static func propertiesLookedUp(in node: Node) -> Int {
        switch node {
        case .empty, .scalar, .anyButNewline:
            0
        case let .set(set):
            set.included | set.excluded
        case let .assertion(assertion):
            assertion == .wordBoundary || assertion == .notWordBoundary ? CharClass.Property.word.rawValue : 0
        case let .concatenation(nodes), let .alternation(nodes):
            nodes.reduce(0) { $0 | propertiesLookedUp(in: $1) }
        case let .repetition(body, _, _):
            propertiesLookedUp(in: body)
        }
    }

    @discardableResult
    mutating func emit(_ op: Int32, _ x: Int = 0, _ y: Int = 0) -> Int {
        code.append(op)
        code.append(Int32(truncatingIfNeeded: x))
        code.append(Int32(truncatingIfNeeded: y))
        return count - 1
    }

    private mutating func patch(_ pc: Int, y: Int) { code[3 * pc + 2] = Int32(truncatingIfNeeded: y) }

    private mutating func patch(_ pc: Int, x: Int) { code[3 * pc + 1] = Int32(truncatingIfNeeded: x) }

    mutating func emit(_ node: Node) {
        switch node {
        case .empty:
            break
        case let .scalar(value):
            emit(Op.scalar, Int(value))
        case let .set(set):
            let index = classIndex[set] ?? classes.count
            if index == classes.count {
                classes.append(set)
                classIndex[set] = index
            }
            emit(Op.set, index)
        case .anyButNewline:
            emit(Op.any)
        case let .assertion(assertion):
            emit(Op.assert, Int(assertion.rawValue))
        case let .concatenation(items):
            for item in items { emit(item) }
        case let .alternation(branches):
            var exits: [Int] = []
            for branch in branches.dropLast() {
                let split = emit(Op.split, count + 1)
                emit(branch)
                exits.append(emit(Op.jump))
                patch(split, y: count)
            }
            if let last = branches.last { emit(last) }
            for exit in exits { patch(exit, x: count) }
        case let .repetition(body, minimum, maximum):
            if let maximum {
                for _ in 0..<minimum { emit(body) }
                // Each optional copy may skip all the remaining ones.
                var skips: [Int] = []
                for _ in minimum..<maximum {
                    skips.append(emit(Op.split, count + 1))
                    emit(body)
                }
                for skip in skips { patch(skip, y: count) }
            } else if minimum == 0 {
                let loop = emit(Op.split, count + 1)
                emit(body)
                emit(Op.jump, loop)
                patch(loop, y: count)
            } else {
                for _ in 1..<minimum { emit(body) }
                let start = count
                emit(body)
                emit(Op.split, start, count + 1)
            }
        }
    }
}

/// The compiled pattern plus what is known before any text is seen.
private struct Program: Sendable {
    let code: [Int32]
    /// For each instruction, which ASCII scalars it consumes (128 bits), so the common case is one bit test.
    let ascii: [UInt64]
    /// Cached closures: for instruction i, `closures[3i]` is where its leaf list starts in this same array (or -1:
    /// walk it at match time, because it has an assertion or too many leaves), `closures[3i + 1]` its length, and
    /// `closures[3i + 2]` the one leaf after i consumes (the closure of i + 1, when that is a single leaf), or -1.
    let closures: [Int32]
    /// Which non-ASCII scalars each instruction consumes, in one array. `nonASCII[i]` for instruction i is a `Wide`
    /// constant or, for a class that needs testing, where the class starts in this array: four values (where its
    /// ranges start, how many there are, its included properties | its excluded ones << 3, 1 if negated), then its
    /// non-ASCII ranges as lower and upper bounds, sorted. Each class is stored once.
    let nonASCII: [Int32]
    let count: Int
    /// Some text has an empty match.
    let nullable: Bool
    /// Every match starts at the start of the text (`^...`), so later positions need not be tried.
    let anchoredAtStart: Bool
    let usesWordBoundary: Bool
    /// ASCII scalars that can begin a non-empty match, and whether a non-ASCII one can: to skip ahead quickly
    /// between matches.
    let firstLow: UInt64, firstHigh: UInt64, firstNonASCII: Bool

    /// Closures with at most this many leaves are cached. A bound keeps the work per step linear in the program:
    /// a cached list is re-read per thread, whereas a walk stops where an earlier thread already went.
    static let cachedClosureLimit = 8

    /// Values of `nonASCII[i]` that are not a class.
    enum Wide {
        static let never: Int32 = -1, always: Int32 = -2, scalar: Int32 = -3
    }

    init(code: [Int32], classes: [CharClass]) {
        self.code = code
        count = code.count / 3
        var nonASCII = [Int32](repeating: Wide.never, count: count)
        // What an instruction testing each class gets.
        var classKinds: [Int32] = []
        for set in classes {
            let bounds = set.nonASCIIBounds.map { Int32($0) }
            if set.included | set.excluded == 0, bounds.isEmpty {
                classKinds.append(set.negated ? Wide.always : Wide.never)  // `[^x]`: only the negation decides.
                continue
            }
            classKinds.append(Int32(nonASCII.count))
            nonASCII += [Int32(nonASCII.count + 4), Int32(bounds.count / 2), Int32(set.included | set.excluded << 3),
                         set.negated ? 1 : 0]
            nonASCII += bounds
        }
        for pc in 0..<count {
            let x = code[3 * pc + 1]
            switch code[3 * pc] {
            case Op.scalar: nonASCII[pc] = x >= 0x80 ? Wide.scalar : Wide.never
            case Op.any: nonASCII[pc] = Wide.always
            case Op.set: nonASCII[pc] = classKinds[Int(x)]
            default: break
            }
        }
        self.nonASCII = nonASCII
        var ascii = [UInt64](repeating: 0, count: 2 * count)
        var usesWordBoundary = false
        for pc in 0..<count {
            let op = code[3 * pc], x = code[3 * pc + 1]
            if op == Op.assert, x >= Assertion.wordBoundary.rawValue { usesWordBoundary = true }
            guard op == Op.scalar || op == Op.any || op == Op.set else { continue }
            for scalar in UInt32(0)..<0x80 {
                let consumes = switch op {
                case Op.scalar: UInt32(truncatingIfNeeded: x) == scalar
                case Op.any: scalar != 0x0A
                default: classes[Int(x)].contains(scalar)
                }
                if consumes { ascii[2 * pc + Int(scalar >> 6)] |= 1 << UInt64(scalar & 63) }
            }
        }
        self.ascii = ascii
        self.usesWordBoundary = usesWordBoundary

        var closures = [Int32](repeating: -1, count: 3 * count)
        for pc in 0..<count {
            guard let leaves = Self.cacheableLeaves(code, from: pc) else { continue }
            closures[3 * pc] = Int32(closures.count)
            closures[3 * pc + 1] = Int32(leaves.count)
            closures.append(contentsOf: leaves.map { Int32($0) })
            if pc > 0, leaves.count == 1 { closures[3 * (pc - 1) + 2] = Int32(leaves[0]) }
        }
        self.closures = closures

        // An empty match is an epsilon path from the start to the match under one position's context; try each
        // context a position can have (the start is never preceded by a word scalar, the end never followed by one).
        var nullable = false
        for context in 0..<16 {
            if context & Context.atStart != 0, context & Context.previousIsWord != 0 { continue }
            if context & Context.atEnd != 0, context & Context.nextIsWord != 0 { continue }
            let leaves = Self.leaves(code, count) { Self.holds($0, context) }
            if leaves.contains(where: { code[3 * $0] == Op.match }) { nullable = true }
        }
        self.nullable = nullable
        anchoredAtStart = Self.leaves(code, count) { $0 != Assertion.textStart.rawValue }.isEmpty
        var firstLow: UInt64 = 0, firstHigh: UInt64 = 0, firstNonASCII = false
        for leaf in Self.leaves(code, count, passing: { _ in true }) {
            firstLow |= ascii[2 * leaf]
            firstHigh |= ascii[2 * leaf + 1]
            let x = code[3 * leaf + 1]
            switch code[3 * leaf] {
            case Op.scalar: firstNonASCII = firstNonASCII || x >= 0x80
            case Op.any: firstNonASCII = true
            case Op.set: firstNonASCII = firstNonASCII || classes[Int(x)].mayContainNonASCII
            default: break
            }
        }
        self.firstLow = firstLow
        self.firstHigh = firstHigh
        self.firstNonASCII = firstNonASCII
    }

    /// Consuming and match instructions reachable from the start without consuming, given which assertions pass.
    private static func leaves(_ code: [Int32], _ count: Int, passing: (Int32) -> Bool) -> [Int] {
        var seen = [Bool](repeating: false, count: count)
        var stack = [0]
        var leaves: [Int] = []
        seen[0] = true
        while let pc = stack.popLast() {
            let op = code[3 * pc], x = Int(code[3 * pc + 1]), y = Int(code[3 * pc + 2])
            let next: [Int] = switch op {
            case Op.split: [x, y]
            case Op.jump: [x]
            case Op.assert: passing(code[3 * pc + 1]) ? [pc + 1] : []
            default: []
            }
            if op != Op.split, op != Op.jump, op != Op.assert { leaves.append(pc) }
            for target in next where !seen[target] {
                seen[target] = true
                stack.append(target)
            }
        }
        return leaves
    }

    /// The leaves reachable from `pc` without consuming, if that closure is small and free of assertions (so the
    /// same wherever it is taken). The walk is bounded, so caching costs O(program size) overall.
    private static func cacheableLeaves(_ code: [Int32], from pc: Int) -> [Int]? {
        var seen: Set<Int> = [pc]
        var stack = [pc]
        var leaves: [Int] = []
        while let current = stack.popLast() {
            let op = code[3 * current]
            let next: [Int]
            switch op {
            case Op.split: next = [Int(code[3 * current + 1]), Int(code[3 * current + 2])]
            case Op.jump: next = [Int(code[3 * current + 1])]
            case Op.assert: return nil
            default:
                leaves.append(current)
                next = []
            }
            for target in next where seen.insert(target).inserted { stack.append(target) }
            if leaves.count > cachedClosureLimit || seen.count > 4 * cachedClosureLimit { return nil }
        }
        return leaves
    }

    /// What the assertions can see at a position, as bits.
    enum Context {
        static let atStart = 1, atEnd = 2, previousIsWord = 4, nextIsWord = 8
    }

    static func holds(_ assertion: Int32, _ context: Int) -> Bool {
        switch assertion {
        case Assertion.textStart.rawValue: return context & Context.atStart != 0
        case Assertion.textEnd.rawValue: return context & Context.atEnd != 0
        case Assertion.wordBoundary.rawValue: return (context >> 2 ^ context >> 3) & 1 != 0
        default: return (context >> 2 ^ context >> 3) & 1 == 0
        }
    }
}

// MARK: - Matching

/// The matches found so far, as "tracks", and which track each thread works for.
///
/// The scan below finds all leftmost-longest matches in one pass, as if it searched again after each one. A
/// thread at a match instruction ends a match at the current position for the start it carries; that match is
/// only final once no thread with that start or an earlier one is alive (one might still match further right
/// or further left). Meanwhile the scan keeps starting threads for the matches after it: those belong to later
/// tracks, which are dropped if the earlier match grows over them. Threads carry a region id naming their track
/// (or the open region after the last track), so a thread's fate is two array reads.
private struct Tracks {
    var starts: [Int] = []
    var ends: [Int] = []
    /// Region id of each track.
    var regions: [Int] = []
    /// For each region id: its track, -1 once dropped, -2 for the open region.
    var trackOfRegion: [Int] = [-2]
    var open = 0

    /// For a thread not in the open region: its track, or nil if it is dead (its track was dropped, or its start
    /// lies inside its track's match, which now starts further left).
    func owner(region: Int, start: Int) -> Int? {
        let track = trackOfRegion[region]
        guard track >= 0, start <= starts[track] else { return nil }
        return track
    }

    /// A thread for `track` (-1: the open region) reached the match instruction.
    mutating func record(track: Int, start: Int, end: Int) {
        if track >= 0 {
            // Same start or further left, and ends later: always better. Later tracks started inside it.
            starts[track] = start
            ends[track] = end
            while starts.count > track + 1 {
                trackOfRegion[regions.removeLast()] = -1
                starts.removeLast()
                ends.removeLast()
            }
            trackOfRegion[open] = -1
        } else {
            // An empty match where the previous one ended adds nothing (Go and RE2 skip it too).
            if start == end, let last = ends.last, last == end { return }
            trackOfRegion[open] = starts.count
            starts.append(start)
            ends.append(end)
            regions.append(open)
        }
        trackOfRegion.append(-2)
        open = trackOfRegion.count - 1
    }
}

extension Program {
    /// Leftmost-longest matches as UTF-8 offsets: the first only, or all non-overlapping ones.
    func scan(_ text: UnsafeBufferPointer<UInt8>, firstOnly: Bool) -> [Range<Int>] {
        code.withUnsafeBufferPointer { codeBuffer in
            ascii.withUnsafeBufferPointer { asciiBuffer in
                closures.withUnsafeBufferPointer { closureBuffer in
                    nonASCII.withUnsafeBufferPointer { nonASCIIBuffer in
                        guard let code = codeBuffer.baseAddress, let ascii = asciiBuffer.baseAddress,
                              let closures = closureBuffer.baseAddress, let nonASCII = nonASCIIBuffer.baseAddress
                        else { return [] }
                        return run(code, ascii, closures, nonASCII, text, firstOnly)
                    }
                }
            }
        }
    }

    /// A position in the program, the start of the match it would make, and the region (track) it works for.
    private struct Thread {
        var pc: Int
        var start: Int
        var region: Int
    }

    // The loop below is written with `while` and raw pointers because it is the hot path, and tests run it
    // unoptimized too.
    private func run(
        _ code: UnsafePointer<Int32>, _ ascii: UnsafePointer<UInt64>, _ closures: UnsafePointer<Int32>,
        _ nonASCII: UnsafePointer<Int32>, _ text: UnsafeBufferPointer<UInt8>, _ firstOnly: Bool
    ) -> [Range<Int>] {
        let m = count, n = text.count
        // All per-call memory, allocated once: the thread lists for this scalar and the next and for a thread
        // starting here, the closure stack, three generation-stamped marks (so nothing is ever cleared), and each
        // class's answer for the scalar at hand (generation << 1 | answer, at the class's place in `nonASCII`).
        let threads = UnsafeMutablePointer<Thread>.allocate(capacity: 3 * m)
        threads.initialize(repeating: Thread(pc: 0, start: 0, region: 0), count: 3 * m)
        let integers = UnsafeMutablePointer<Int>.allocate(capacity: 4 * m + self.nonASCII.count)
        integers.initialize(repeating: 0, count: 4 * m + self.nonASCII.count)
        defer {
            threads.deallocate()
            integers.deallocate()
        }
        var current = threads, next = threads + m
        let seeds = threads + 2 * m
        let stack = integers, mark = integers + m, seedMark = integers + 2 * m, alive = integers + 3 * m
        let classAnswers = integers + 4 * m
        var generation = 0, seedGeneration = 0, aliveGeneration = 0
        var currentCount = 0, nextCount = 0

        /// Adds threads for the leaves reachable from `pc0` without consuming, skipping any already marked in
        /// this generation (an earlier thread holds them, and is preferred).
        func follow(_ pc0: Int, _ start: Int, _ region: Int, _ context: Int, _ list: UnsafeMutablePointer<Thread>,
                    _ listCount: inout Int, _ mark: UnsafeMutablePointer<Int>, _ generation: Int) {
            let cached = Int(closures[3 * pc0])
            if cached >= 0 {
                var j = cached
                let end = cached + Int(closures[3 * pc0 + 1])
                while j < end {
                    let leaf = Int(closures[j])
                    if mark[leaf] != generation {
                        mark[leaf] = generation
                        list[listCount] = Thread(pc: leaf, start: start, region: region)
                        listCount += 1
                    }
                    j += 1
                }
                return
            }
            // A walk marks every instruction it passes, so a later walk stops where this one went.
            if mark[pc0] == generation { return }
            mark[pc0] = generation
            stack[0] = pc0
            var depth = 1
            while depth > 0 {
                depth -= 1
                let pc = stack[depth]
                switch code[3 * pc] {
                case Op.split:
                    let x = Int(code[3 * pc + 1]), y = Int(code[3 * pc + 2])
                    if mark[y] != generation { mark[y] = generation; stack[depth] = y; depth += 1 }
                    if mark[x] != generation { mark[x] = generation; stack[depth] = x; depth += 1 }
                case Op.jump:
                    let x = Int(code[3 * pc + 1])
                    if mark[x] != generation { mark[x] = generation; stack[depth] = x; depth += 1 }
                case Op.assert:
                    if Self.holds(code[3 * pc + 1], context), mark[pc + 1] != generation {
                        mark[pc + 1] = generation
                        stack[depth] = pc + 1
                        depth += 1
                    }
                default:
                    list[listCount] = Thread(pc: pc, start: start, region: region)
                    listCount += 1
                }
            }
        }

        // `Wide` constants as locals: an unoptimized build would call an accessor for each use of a static.
        let always = Int(Wide.always), wideScalar = Int(Wide.scalar)

        /// Whether instruction `pc` consumes `scalar`: a bit test for ASCII. `properties`: see `classContains`.
        func consumes(_ pc: Int, _ scalar: UInt32, _ properties: inout Int) -> Bool {
            if scalar < 0x80 { return (ascii[2 * pc + Int(scalar >> 6)] >> UInt64(scalar & 63)) & 1 != 0 }
            let kind = Int(nonASCII[pc])
            if kind >= 0 { return classContains(kind, scalar, &properties) }
            return kind == always || (kind == wideScalar && UInt32(truncatingIfNeeded: code[3 * pc + 1]) == scalar)
        }

        /// Whether the class stored at `start` in `nonASCII` holds a non-ASCII scalar: a binary search, after a
        /// look at the scalar's properties if the class has any. `properties` caches those for the scalar at hand
        /// (see `CharClass.properties`), so each is looked up at most once per position.
        func classContains(_ start: Int, _ scalar: UInt32, _ properties: inout Int) -> Bool {
            var hit = false
            let masks = Int(nonASCII[start + 2])
            if masks != 0 {
                let included = masks & 7, excluded = masks >> 3
                let holding = CharClass.properties(included | excluded, of: scalar, cache: &properties)
                hit = holding & included != 0 || ~holding & excluded != 0
            }
            if !hit {
                let value = Int32(truncatingIfNeeded: scalar)
                let first = Int(nonASCII[start]), ranges = Int(nonASCII[start + 1])
                var low = 0, high = ranges
                while low < high {
                    let middle = (low + high) >> 1
                    if nonASCII[first + 2 * middle + 1] < value { low = middle + 1 } else { high = middle }
                }
                hit = low < ranges && nonASCII[first + 2 * low] <= value
            }
            return hit != (nonASCII[start + 3] != 0)
        }

        /// The scalar at a UTF-8 offset and its length. `String` guarantees valid UTF-8; a cut-off sequence
        /// would still only yield U+FFFD.
        func decode(_ offset: Int) -> (UInt32, Int) {
            let lead = UInt32(text[offset])
            if lead < 0x80 { return (lead, 1) }
            let length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
            guard offset + length <= n else { return (0xFFFD, n - offset) }
            var value = lead & (0x7F >> UInt32(length))
            for i in 1..<length { value = value << 6 | UInt32(text[offset + i]) & 0x3F }
            return (value, length)
        }

        /// The scalar ending just before a UTF-8 offset (past its continuation bytes).
        func scalarBefore(_ offset: Int) -> UInt32 {
            var lead = offset - 1
            while lead > 0, offset - lead < 4, text[lead] & 0xC0 == 0x80 { lead -= 1 }
            return decode(lead).0
        }

        var tracks = Tracks()
        var openRegion = tracks.open
        var committed = 0
        var position = 0
        var previousIsWord = false
        // Whether the scalar at offset `wordKnownAt` is a word scalar, so each is looked up once.
        var wordKnownAt = -1, knownIsWord = false
        let wordBoundaries = usesWordBoundary
        let lowFirst = firstLow, highFirst = firstHigh, nonASCIIFirst = firstNonASCII
        // Per-thread variables live out here: an unoptimized build pays for each declaration inside the loop.
        var thread = Thread(pc: 0, start: 0, region: 0)
        var index = 0, track = 0, target = 0, cached = 0, leaf = 0, end = 0, kind = 0
        var consumed = false, properties = 0, answer = 0
        // The last region looked up, its track (-1: dropped) and the latest start still alive in it.
        var cachedRegion = -1, cachedTrack = -1, cachedLimit = 0

        while true {
            if currentCount == 0 {
                // Nothing alive and every match so far is final.
                if anchoredAtStart, position > 0 { break }
                if !nullable {
                    // Skip scalars that can't begin a match, a byte at a time: no non-ASCII scalar can when
                    // `nonASCIIFirst` is false, and a byte of one (0x80 and up) never stands for ASCII.
                    index = position
                    while index < n {
                        let byte = text[index]
                        if byte >= 0x80 ? nonASCIIFirst
                            : (byte < 64 ? lowFirst >> UInt64(byte) : highFirst >> UInt64(byte - 64)) & 1 != 0 {
                            break
                        }
                        index += 1
                    }
                    if index != position {
                        previousIsWord = wordBoundaries && CharClass.isWord(scalarBefore(index))
                        position = index
                    }
                    if position >= n { break }
                }
            }
            let atEnd = position >= n
            let (scalar, length) = atEnd ? (0, 0) : decode(position)
            let asciiWord = scalar < 0x80 ? Int(scalar >> 6) : -1, asciiMask: UInt64 = 1 << UInt64(scalar & 63)
            // Whether this scalar is a word scalar was found one step back, unless the scan skipped here.
            let currentIsWord = wordBoundaries && !atEnd
                && (wordKnownAt == position ? knownIsWord : CharClass.isWord(scalar))
            // Classes testing `\w` then need no lookup of their own.
            let word = CharClass.Property.word.rawValue
            properties = wordBoundaries && !atEnd ? word << 3 | (currentIsWord ? word : 0) : 0
            let here = (position == 0 ? Context.atStart : 0) | (atEnd ? Context.atEnd : 0)
                | (previousIsWord ? Context.previousIsWord : 0) | (currentIsWord ? Context.nextIsWord : 0)
            let following = position + length
            var there = 0
            if !atEnd {
                let followingIsWord = wordBoundaries && following < n && CharClass.isWord(decode(following).0)
                wordKnownAt = following
                knownIsWord = followingIsWord
                there = (following >= n ? Context.atEnd : 0) | (currentIsWord ? Context.previousIsWord : 0)
                    | (followingIsWord ? Context.nextIsWord : 0)
            }
            generation += 1
            aliveGeneration += 1
            nextCount = 0

            // Threads carried from the previous scalar, earliest start first.
            index = 0
            while index < currentCount {
                thread = current[index]
                index &+= 1
                if thread.region == openRegion {
                    track = -1
                } else {
                    if thread.region != cachedRegion {
                        cachedRegion = thread.region
                        cachedTrack = tracks.trackOfRegion[cachedRegion]
                        cachedLimit = cachedTrack >= 0 ? tracks.starts[cachedTrack] : -1
                    }
                    // Dead: its track was dropped, or its start lies inside its track's match, which now starts
                    // further left.
                    if cachedTrack < 0 || thread.start > cachedLimit { continue }
                    track = cachedTrack
                }
                alive[thread.pc] = aliveGeneration
                // Whether it consumes the scalar, spelled out (no `||` or nested call on the common paths) for the
                // unoptimized build.
                consumed = false
                if atEnd {
                } else if asciiWord >= 0 {
                    consumed = ascii[2 &* thread.pc &+ asciiWord] & asciiMask != 0
                } else {
                    kind = Int(nonASCII[thread.pc])
                    if kind == always {
                        consumed = true
                    } else if kind >= 0 {
                        // Each class is tested once per scalar, however many threads wait on it.
                        answer = classAnswers[kind]
                        if answer >> 1 == generation {
                            consumed = answer & 1 != 0
                        } else {
                            consumed = classContains(kind, scalar, &properties)
                            classAnswers[kind] = generation << 1 | (consumed ? 1 : 0)
                        }
                    } else if kind == wideScalar {
                        consumed = UInt32(truncatingIfNeeded: code[3 * thread.pc + 1]) == scalar
                    }
                }
                if consumed {
                    leaf = Int(closures[3 &* thread.pc &+ 2])
                    if leaf >= 0 {
                        // The most common case: one instruction follows.
                        if mark[leaf] != generation {
                            mark[leaf] = generation
                            thread.pc = leaf
                            next[nextCount] = thread
                            nextCount &+= 1
                        }
                        continue
                    }
                    target = thread.pc &+ 1
                    cached = Int(closures[3 &* target])
                    guard cached >= 0 else {
                        follow(target, thread.start, thread.region, there, next, &nextCount, mark, generation)
                        continue
                    }
                    // The common case, inline: a small cached closure.
                    end = cached &+ Int(closures[3 &* target &+ 1])
                    while cached < end {
                        leaf = Int(closures[cached])
                        cached &+= 1
                        if mark[leaf] == generation { continue }
                        mark[leaf] = generation
                        thread.pc = leaf
                        next[nextCount] = thread
                        nextCount &+= 1
                    }
                } else if code[3 * thread.pc] == Op.match {
                    tracks.record(track: track, start: thread.start, end: position)
                    openRegion = tracks.open
                    cachedRegion = -1
                }
            }

            // A new thread starting here, unless a live thread with an earlier start already holds the same
            // instruction (it would do everything this one does, and be preferred).
            let couldBegin = nullable || (!atEnd && (scalar >= 0x80 ? nonASCIIFirst
                : (scalar < 64 ? lowFirst >> UInt64(scalar) : highFirst >> UInt64(scalar - 64)) & 1 != 0))
            if couldBegin, !(firstOnly && !tracks.starts.isEmpty), !anchoredAtStart || position == 0 {
                seedGeneration += 1
                var seedCount = 0
                let region = openRegion
                follow(0, position, region, here, seeds, &seedCount, seedMark, seedGeneration)
                index = 0
                while index < seedCount {
                    target = seeds[index].pc
                    index += 1
                    if alive[target] == aliveGeneration { continue }
                    track = -1
                    if region != openRegion {
                        // An empty match just made the open region a track; the seed's other threads join it.
                        guard let owner = tracks.owner(region: region, start: position) else { continue }
                        track = owner
                    }
                    if !atEnd, consumes(target, scalar, &properties) {
                        follow(target + 1, position, region, there, next, &nextCount, mark, generation)
                    } else if code[3 * target] == Op.match {
                        tracks.record(track: track, start: position, end: position)
                        openRegion = tracks.open
                        cachedRegion = -1
                    }
                }
            }

            // A track is final once none of its threads is alive. The list is ordered by start, and so by track.
            while committed < tracks.starts.count, nextCount == 0 || next[0].region != tracks.regions[committed] {
                committed += 1
            }
            if firstOnly, committed > 0 { break }
            if atEnd { break }
            swap(&current, &next)
            currentCount = nextCount
            previousIsWord = currentIsWord
            position = following
        }
        let found = firstOnly ? min(committed, 1) : committed
        return (0..<found).map { tracks.starts[$0]..<tracks.ends[$0] }
    }
}
