/// Splits a command typed as one line into arguments the way a POSIX shell would quote, and nothing more: no
/// variables, globs, pipes or substitutions, so what is typed is exactly what runs. The run form, the console and a
/// compose file's `command: "…"` all split with it.
public enum CommandLineSplitter {
    public struct SplitError: Error, Equatable {
        public let message: String
    }

    /// `echo "hello world" 'it''s' a\ b` → `["echo", "hello world", "its", "a b"]`.
    public static func split(_ line: String) throws(SplitError) -> [String] {
        var arguments: [String] = []
        var current = ""
        var inArgument = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n", "\r":
                if inArgument {
                    arguments.append(current)
                    current = ""
                    inArgument = false
                }
            case "'":
                inArgument = true
                var closed = false
                while let inner = iterator.next() {
                    if inner == "'" { closed = true; break }
                    current.append(inner)
                }
                guard closed else { throw SplitError(message: "A single quote is not closed.") }
            case "\"":
                inArgument = true
                var closed = false
                while let inner = iterator.next() {
                    if inner == "\"" { closed = true; break }
                    if inner == "\\" {
                        guard let escaped = iterator.next() else { break }
                        // Inside double quotes a backslash only escapes these, as in sh.
                        if ["\"", "\\", "$", "`"].contains(escaped) {
                            current.append(escaped)
                        } else if escaped != "\n" {
                            current.append("\\")
                            current.append(escaped)
                        }
                        continue
                    }
                    current.append(inner)
                }
                guard closed else { throw SplitError(message: "A double quote is not closed.") }
            case "\\":
                inArgument = true
                guard let escaped = iterator.next() else { throw SplitError(message: "The line ends with a lone backslash.") }
                if escaped != "\n" { current.append(escaped) }
            default:
                inArgument = true
                current.append(character)
            }
        }
        if inArgument { arguments.append(current) }
        return arguments
    }
}
