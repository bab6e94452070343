import Foundation
import GRDB

/// What the last update check found for an image a running container uses: the tag its containers were run with
/// (`reference`), the image they run (`imageId`), and what the tag names in its registry now.
public struct ImageUpdate: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// The registry names the image the containers run.
        case current
        /// The registry names another image: a pull brings a newer one.
        case available
        /// The image came from no registry (built, committed or loaded here): nothing to compare.
        case unknown
        /// The registry could not be asked (down, refused, no such tag); `message` says why, `retryAt` when again.
        case failed
    }

    public var reference: String
    public var imageId: String
    public var state: State
    /// What the tag names in the registry now, when it answered.
    public var remoteDigest: String?
    /// The digests the local image is known by in its registry.
    public var localDigest: String?
    public var message: String?
    public var checkedAt: Date
    /// Failed checks in a row: the wait before the next one doubles with each.
    public var failures: Int
    /// When a scheduled check looks at it again.
    public var retryAt: Date?

    public init(
        reference: String, imageId: String, state: State, remoteDigest: String? = nil, localDigest: String? = nil, message: String? = nil,
        checkedAt: Date = Date(), failures: Int = 0, retryAt: Date? = nil
    ) {
        self.reference = reference
        self.imageId = imageId
        self.state = state
        self.remoteDigest = remoteDigest
        self.localDigest = localDigest
        self.message = message
        self.checkedAt = checkedAt
        self.failures = failures
        self.retryAt = retryAt
    }
}

extension ImageUpdate {
    /// What identifies a finding: the tag and the image it names locally.
    public static func key(reference: String, imageId: String) -> String { reference + "\u{0}" + imageId }
    public var key: String { Self.key(reference: reference, imageId: imageId) }
}

extension ImageUpdate: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "imageUpdate"
}

extension AppDatabase {
    /// Every finding, for the pages that mark containers.
    public func imageUpdates() async throws -> [ImageUpdate] {
        try await writer.read { db in try ImageUpdate.fetchAll(db) }
    }

    /// Every finding by its `key`.
    public func imageUpdatesByKey() async throws -> [String: ImageUpdate] {
        Dictionary(try await imageUpdates().map { ($0.key, $0) }) { first, _ in first }
    }

    /// Stores a check's findings and forgets those (by `key`) of images no running container uses any more.
    public func saveImageUpdates(_ updates: [ImageUpdate], keepingOnly inUse: Set<String>? = nil) async throws {
        try await writer.write { db in
            for update in updates { try update.save(db) }
            if let inUse {
                for stored in try ImageUpdate.fetchAll(db) where !inUse.contains(stored.key) {
                    try stored.delete(db)
                }
            }
        }
    }
}
