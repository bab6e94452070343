import Foundation
import GRDB

/// One preference of one unix user, such as `theme = dark`.
public struct UserSetting: Codable, Sendable, Equatable {
    public var username: String
    public var key: String
    public var value: String
    public var updatedAt: Date

    public init(username: String, key: String, value: String, updatedAt: Date = Date()) {
        self.username = username
        self.key = key
        self.value = value
        self.updatedAt = updatedAt
    }
}

extension UserSetting: FetchableRecord, PersistableRecord {
    public enum Columns {
        public static let username = Column(CodingKeys.username)
        public static let key = Column(CodingKeys.key)
    }
}

extension AppDatabase {
    /// Saves a user's setting, replacing the previous value of that key.
    public func saveSetting(_ setting: UserSetting) async throws {
        try await writer.write { db in try setting.upsert(db) }
    }

    /// All settings of one user, by key.
    public func settings(of username: String) async throws -> [String: String] {
        try await writer.read { db in
            let rows = try UserSetting.filter(UserSetting.Columns.username == username).fetchAll(db)
            return Dictionary(rows.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        }
    }
}

extension AppDatabase {
    /// Saves several settings of one user at once: all or none.
    public func saveSettings(_ values: [String: String], for username: String) async throws {
        try await writer.write { db in
            let now = Date()
            for (key, value) in values {
                try UserSetting(username: username, key: key, value: value, updatedAt: now).upsert(db)
            }
        }
    }
}
