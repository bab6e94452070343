import Foundation

/// `${VAR}` and its forms in a compose file's values, as the Compose Specification defines them: `$VAR`, `${VAR}`,
/// `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (an error),
/// `${VAR:+other}` / `${VAR+other}` (when set), `$$` for a dollar sign. Defaults may hold further `${…}`.
public struct Interpolation: Sendable {
    public let variables: [String: String]

    public init(variables: [String: String]) {
        self.variables = variables
    }

    /// Why a value could not be interpolated.
    public struct Failure: Error, Equatable, Sendable {
        public let message: String
    }

    /// Variables used but not set (their value is empty), for a warning.
    public struct Result: Sendable, Equatable {
        public let text: String
        public let unset: [String]
    }

    public func interpolate(_ text: String) throws(Failure) -> Result {
        var unset: [String] = []
        let output = try expand(Array(text.unicodeScalars), unset: &unset)
        return Result(text: output, unset: unset)
    }

    private func expand(_ scalars: [Unicode.Scalar], unset: inout [String]) throws(Failure) -> String {
        var output = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            guard scalar == "$", index + 1 < scalars.count else {
                output.append(scalar)
                index += 1
                continue
            }
            let next = scalars[index + 1]
            if next == "$" {
                output.append("$")
                index += 2
            } else if next == "{" {
                // The matching brace, counting nested ones (a default may hold `${…}`).
                var depth = 1
                var end = index + 2
                while end < scalars.count, depth > 0 {
                    if scalars[end] == "{" { depth += 1 } else if scalars[end] == "}" { depth -= 1 }
                    if depth > 0 { end += 1 }
                }
                guard end < scalars.count else {
                    throw Failure(message: "“\(String(String.UnicodeScalarView(scalars[index...])))” has no closing brace")
                }
                output.append(contentsOf: try braced(Array(scalars[(index + 2)..<end]), unset: &unset).unicodeScalars)
                index = end + 1
            } else if Self.isNameStart(next) {
                var end = index + 1
                while end < scalars.count, Self.isNameCharacter(scalars[end]) { end += 1 }
                let name = String(String.UnicodeScalarView(scalars[(index + 1)..<end]))
                if let value = variables[name] {
                    output.append(contentsOf: value.unicodeScalars)
                } else {
                    unset.append(name)
                }
                index = end
            } else {
                output.append(scalar)
                index += 1
            }
        }
        return String(output)
    }

    /// The inside of `${…}`: a name, then nothing or one of `:-`, `-`, `:?`, `?`, `:+`, `+` and its word.
    private func braced(_ inside: [Unicode.Scalar], unset: inout [String]) throws(Failure) -> String {
        var end = 0
        while end < inside.count, Self.isNameCharacter(inside[end]) { end += 1 }
        let name = String(String.UnicodeScalarView(inside[..<end]))
        guard !name.isEmpty, Self.isNameStart(inside[0]) else {
            throw Failure(message: "“${\(String(String.UnicodeScalarView(inside)))}” is not a variable (a name is letters, digits and _)")
        }
        let value = variables[name]
        guard end < inside.count else {
            if value == nil { unset.append(name) }
            return value ?? ""
        }
        var rest = inside[end...]
        let colon = rest.first == ":"
        if colon { rest = rest.dropFirst() }
        guard let operation = rest.first, "-?+".unicodeScalars.contains(operation) else {
            throw Failure(message: "“${\(String(String.UnicodeScalarView(inside)))}” is not a form Berth knows (:-, -, :?, ?, :+, +)")
        }
        let word = Array(rest.dropFirst())
        // With a colon an empty value counts as unset.
        let isSet = value.map { !colon || !$0.isEmpty } ?? false
        switch operation {
        case "-":
            return isSet ? value ?? "" : try expand(word, unset: &unset)
        case "+":
            return isSet ? try expand(word, unset: &unset) : ""
        default:
            guard isSet, let value else {
                let message = try expand(word, unset: &unset)
                throw Failure(message: message.isEmpty ? "\(name) must be set" : "\(name): \(message)")
            }
            return value
        }
    }

    static func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        isNameStart(scalar) || ("0"..."9").contains(scalar)
    }
}

/// A `.env` file: `KEY=value` lines, `export ` allowed before a key, `#` comments; a value in single quotes is taken as
/// it is, one in double quotes understands `\n`, `\t`, `\"` and `\\`; a comment may follow either after the closing
/// quote; an unquoted one ends before whitespace and `#` (`a#b` is a value, as for the compose CLI).
public enum DotEnv {
    public struct Failure: Error, Equatable, Sendable {
        public let message: String
        public let line: Int

        public init(message: String, line: Int) {
            self.message = message
            self.line = line
        }
    }

    public static func parse(_ text: String) throws(Failure) -> [(key: String, value: String)] {
        var pairs: [(key: String, value: String)] = []
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingWhitespace() }
            guard let equals = line.firstIndex(of: "=") else {
                throw Failure(message: "“\(line.prefix(40))” is not KEY=value", line: offset + 1)
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            guard let first = key.unicodeScalars.first, Interpolation.isNameStart(first),
                  key.unicodeScalars.allSatisfy({ Interpolation.isNameCharacter($0) || $0 == "." || $0 == "-" }) else {
                throw Failure(message: "“\(key.prefix(40))” is not a variable name", line: offset + 1)
            }
            var value = String(line[line.index(after: equals)...]).trimmingWhitespace()
            if let quote = value.first, quote == "'" || quote == "\"" {
                guard let inside = quoted(value, quote) else { throw Failure(message: "\(key): the quote is not closed", line: offset + 1) }
                value = quote == "\"" ? unescape(inside) : inside
            } else if let comment = commentStart(value) {
                value = String(value[..<comment]).trimmingWhitespace()
            }
            pairs.append((key, value))
        }
        return pairs
    }

    /// What is between the opening quote and the closing one: the first (not escaped, in double quotes) after which the
    /// line ends or a comment starts. nil: there is none.
    static func quoted(_ value: String, _ quote: Character) -> String? {
        var escaped = false
        var index = value.index(after: value.startIndex)
        while index < value.endIndex {
            let character = value[index]
            if escaped {
                escaped = false
            } else if character == "\\", quote == "\"" {
                escaped = true
            } else if character == quote {
                let rest = value[value.index(after: index)...].trimmingWhitespace()
                if rest.isEmpty || rest.hasPrefix("#") { return String(value[value.index(after: value.startIndex)..<index]) }
            }
            index = value.index(after: index)
        }
        return nil
    }

    /// Where a comment starts in an unquoted value: a `#` after a space or tab.
    static func commentStart(_ value: String) -> String.Index? {
        var previous: Character?
        for index in value.indices {
            if value[index] == "#", previous == " " || previous == "\t" { return index }
            previous = value[index]
        }
        return nil
    }

    static func unescape(_ text: String) -> String {
        var output = ""
        var escaped = false
        for character in text {
            if escaped {
                switch character {
                case "n": output.append("\n")
                case "t": output.append("\t")
                case "r": output.append("\r")
                default: output.append(character)
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                output.append(character)
            }
        }
        if escaped { output.append("\\") }
        return output
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { $0 != " " && $0 != "\t" && $0 != "\r" }) else { return "" }
        let end = scalars.lastIndex(where: { $0 != " " && $0 != "\t" && $0 != "\r" })!
        return String(String.UnicodeScalarView(scalars[start...end]))
    }
}
