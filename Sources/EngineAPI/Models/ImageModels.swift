/// One row of `GET /images/json`.
public struct ImageSummary: Decodable, Sendable {
    public var id: String
    public var parentID: String?
    public var repoTags: [String]?
    public var repoDigests: [String]?
    /// Seconds since the epoch.
    public var created: Int64?
    public var size: Int64?
    /// -1 when the daemon did not count them.
    public var containers: Int?
    public var labels: [String: String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id", parentID = "ParentId", repoTags = "RepoTags", repoDigests = "RepoDigests", created = "Created"
        case size = "Size", containers = "Containers", labels = "Labels"
    }
}

/// `GET /images/{name}/json`, the fields Berth uses.
public struct ImageInspect: Decodable, Sendable {
    public var id: String
    public var repoTags: [String]?
    /// `repository@sha256:…`: the digests the image is known by in the registries it came from.
    public var repoDigests: [String]?
    public var created: String?
    public var author: String?
    public var comment: String?
    public var size: Int64?
    public var config: Config?

    enum CodingKeys: String, CodingKey {
        case id = "Id", repoTags = "RepoTags", repoDigests = "RepoDigests", created = "Created", author = "Author", comment = "Comment"
        case size = "Size", config = "Config"
    }

    public struct Config: Decodable, Sendable {
        public var cmd: [String]?
        public var entrypoint: [String]?
        public var env: [String]?
        public var labels: [String: String]?
        public var workingDir: String?
        public var user: String?

        enum CodingKeys: String, CodingKey {
            case cmd = "Cmd", entrypoint = "Entrypoint", env = "Env", labels = "Labels", workingDir = "WorkingDir", user = "User"
        }
    }
}

/// One line of `DELETE /images/{name}`'s answer.
public struct ImageDeleteItem: Decodable, Sendable {
    public var untagged: String?
    public var deleted: String?

    enum CodingKeys: String, CodingKey {
        case untagged = "Untagged", deleted = "Deleted"
    }
}

/// `POST /images/prune`'s answer.
public struct ImagePruneResponse: Decodable, Sendable {
    public var imagesDeleted: [ImageDeleteItem]?
    public var spaceReclaimed: Int64?

    enum CodingKeys: String, CodingKey {
        case imagesDeleted = "ImagesDeleted", spaceReclaimed = "SpaceReclaimed"
    }
}

/// One layer of `GET /images/{name}/history`.
public struct ImageHistoryItem: Decodable, Sendable {
    public var id: String?
    /// Seconds since the epoch.
    public var created: Int64?
    public var createdBy: String?
    public var size: Int64?
    public var comment: String?
    public var tags: [String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id", created = "Created", createdBy = "CreatedBy", size = "Size", comment = "Comment", tags = "Tags"
    }
}
