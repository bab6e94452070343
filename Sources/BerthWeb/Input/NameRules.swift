import Foundation

/// Names, subnets and labels as forms give them.
enum NameRules {
    /// Docker's rule for container, network and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and at most 128
    /// characters (the engine sets no length; a 100,000-character name would bloat every list page).
    static func isValidObjectName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 128 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }

    /// The rule in words, for a name that breaks it.
    static let objectNameRule =
        "A name holds letters, digits, _ . and - (starting with a letter or digit), at most 128 characters."

    /// An IPv4 CIDR such as 10.20.0.0/24 (IPv6 subnets are left to the engine to judge, not offered here).
    static func isValidCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefix = Int(parts[1]), (8...30).contains(prefix) else { return false }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { Int($0).map { (0...255).contains($0) } ?? false }
    }

    struct InvalidLabel: Error { let message: String }

    /// `KEY=VALUE` lines.
    static func labels(_ lines: [String]) throws(InvalidLabel) -> [String: String] {
        var labels: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw InvalidLabel(message: "“\(line.prefix(60))” is not a label of the form KEY=VALUE.")
            }
            labels[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return labels
    }
}
