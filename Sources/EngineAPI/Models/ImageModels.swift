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
