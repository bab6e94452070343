import Foundation

/// An image reference as a user types it: `name`, `name:tag`, `registry:port/name:tag`, `name@sha256:…`.
public struct ImageReference: Sendable, Equatable, CustomStringConvertible {
    /// Everything before the tag or digest, registry included (`127.0.0.1:5000/team/app`).
    public var repository: String
    public var tag: String?
    public var digest: String?

    /// The registry host named in the reference, or nil for Docker Hub.
    public var registry: String? {
        guard let first = repository.split(separator: "/", maxSplits: 1).first, repository.contains("/") else { return nil }
        return first.contains(".") || first.contains(":") || first == "localhost" ? String(first) : nil
    }

    public var description: String {
        if let digest { return "\(repository)@\(digest)" }
        return "\(repository):\(tag ?? "latest")"
    }

    /// Reads a reference, refusing anything the engine would not take as one (spaces, upper case in the path, a
    /// query string), with a message that says what is wrong.
    public init(parsing text: String) throws(InvalidReference) {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw InvalidReference("Name an image, such as busybox or registry.example.com/team/app:1.2.") }
        guard text.count <= 512 else { throw InvalidReference("An image reference is at most 512 characters.") }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = rest[rest.index(after: at)...]
            guard digest.hasPrefix("sha256:"), digest.dropFirst(7).count == 64,
                  digest.dropFirst(7).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw InvalidReference("“\(digest)” is not a digest such as sha256: followed by 64 hex digits.")
            }
            self.digest = String(digest)
            rest = rest[..<at]
        }
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tag = rest[rest.index(after: colon)...]
            guard !tag.isEmpty, tag.count <= 128, let first = tag.first, first.isLetter || first.isNumber || first == "_",
                  tag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
                throw InvalidReference("“\(tag)” is not a tag: letters, digits, _ . - and at most 128 characters.")
            }
            self.tag = String(tag)
            rest = rest[..<colon]
        }
        let components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard !rest.isEmpty, !components.contains(where: \.isEmpty) else {
            throw InvalidReference("“\(text)” is not an image name.")
        }
        for (index, component) in components.enumerated() {
            let isRegistry = index == 0 && components.count > 1
                && (component.contains(".") || component.contains(":") || component == "localhost")
            let allowed: (Character) -> Bool = isRegistry
                ? { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }
                : { $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }
            guard component.allSatisfy(allowed) else {
                throw InvalidReference(
                    "“\(component)” can't be part of an image name: use lower-case letters, digits, and . _ - between them."
                )
            }
        }
        repository = String(rest)
    }
}

public struct InvalidReference: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Credentials for one pull, sent as `X-Registry-Auth` and never kept.
public struct RegistryCredentials: Sendable {
    public var username: String
    public var password: String
    public var serverAddress: String

    public init(username: String, password: String, serverAddress: String) {
        self.username = username
        self.password = password
        self.serverAddress = serverAddress
    }

    /// base64url of the JSON the Engine API documents: `{"username", "password", "serveraddress"}`.
    var header: String {
        let object = ["username": username, "password": password, "serveraddress": serverAddress]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}

/// One line of a pull's progress stream (`POST /images/create`).
public struct PullProgressMessage: Decodable, Sendable, Equatable {
    public var status: String?
    /// The layer the line is about, when it is about one.
    public var id: String?
    public var progressDetail: Detail?
    /// An error the registry or the engine reported in the middle of the stream.
    public var error: String?
    public var errorDetail: ErrorDetail?

    public struct Detail: Decodable, Sendable, Equatable {
        public var current: Int64?
        public var total: Int64?

        public init(current: Int64? = nil, total: Int64? = nil) {
            self.current = current
            self.total = total
        }
    }

    public struct ErrorDetail: Decodable, Sendable, Equatable {
        public var message: String?
    }

    public init(status: String? = nil, id: String? = nil, progressDetail: Detail? = nil, error: String? = nil) {
        self.status = status
        self.id = id
        self.progressDetail = progressDetail
        self.error = error
    }

    /// The error's text, when the line is one.
    public var errorMessage: String? { errorDetail?.message ?? error }
}
