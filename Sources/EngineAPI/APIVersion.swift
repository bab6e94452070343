/// A Docker Engine API version such as `1.41`, ordered numerically (`1.9` < `1.24`).
public struct APIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `"1.41"`; also tolerates a leading `v`. Returns nil for anything else.
    public init?(_ text: String) {
        var text = Substring(text)
        if text.first == "v" { text = text.dropFirst() }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            return nil
        }
        self.init(major: major, minor: minor)
    }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: APIVersion, rhs: APIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// The oldest API Berth talks to; the Docker SDKs draw the same line.
    public static let minimum = APIVersion(major: 1, minor: 24)
    /// The newest API Berth was written against; a newer daemon is spoken to in this version.
    public static let current = APIVersion(major: 1, minor: 47)
    /// What a daemon that sends no `API-Version` header is assumed to speak (as the Docker SDKs do).
    public static let fallback = APIVersion(major: 1, minor: 24)
}
