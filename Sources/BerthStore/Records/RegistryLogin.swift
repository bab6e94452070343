import Foundation
import GRDB

/// A registry login saved for pulls and update checks: one person's, or shared by an admin with everyone who pulls.
/// The password is sealed with the secret key (`SecretKey`); the row holds only the sealed bytes and the key's id.
public struct RegistryLogin: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64?
    /// Whose it is; nil for a shared login.
    public var owner: String?
    /// The registry as an image reference names it (`registry.example.com:5000`, `docker.io`).
    public var registry: String
    public var username: String
    public var secret: Data
    public var keyId: String
    public var createdBy: String
    public var createdAt: Date
    public var lastUsedAt: Date?

    public init(owner: String?, registry: String, username: String, secret: Data, keyId: String, createdBy: String, createdAt: Date = Date()) {
        self.owner = owner
        self.registry = registry
        self.username = username
        self.secret = secret
        self.keyId = keyId
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    /// What the sealed password is bound to: it opens only in a row for this owner, registry and username.
    public static func sealContext(owner: String?, registry: String, username: String) -> String {
        "registryLogin\u{0}\(owner ?? "")\u{0}\(registry)\u{0}\(username)"
    }

    public var sealContext: String { Self.sealContext(owner: owner, registry: registry, username: username) }
}

extension RegistryLogin: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "registryLogin"

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

extension AppDatabase {
    /// Saves a login, replacing the one the same owner (or the shared one) had for that registry.
    public func saveRegistryLogin(_ login: RegistryLogin) async throws -> RegistryLogin {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM registryLogin WHERE registry = ? AND owner IS ?", arguments: [login.registry, login.owner]
            )
            var login = login
            try login.insert(db)
            return login
        }
    }

    /// The logins `username` may use: their own and the shared ones, by registry.
    public func registryLogins(usableBy username: String) async throws -> [RegistryLogin] {
        try await writer.read { db in
            try RegistryLogin.fetchAll(
                db, sql: "SELECT * FROM registryLogin WHERE owner = ? OR owner IS NULL ORDER BY registry, owner IS NULL", arguments: [username]
            )
        }
    }

    /// The login a pull from `registry` by `username` uses: their own, else the shared one.
    public func registryLogin(for registry: String, usableBy username: String) async throws -> RegistryLogin? {
        try await writer.read { db in
            try RegistryLogin.fetchOne(
                db, sql: "SELECT * FROM registryLogin WHERE registry = ? AND (owner = ? OR owner IS NULL) ORDER BY owner IS NULL LIMIT 1",
                arguments: [registry, username]
            )
        }
    }

    public func registryLogin(id: Int64) async throws -> RegistryLogin? {
        try await writer.read { db in try RegistryLogin.fetchOne(db, key: id) }
    }

    public func deleteRegistryLogin(id: Int64) async throws {
        _ = try await writer.write { db in try RegistryLogin.deleteOne(db, key: id) }
    }

    public func markRegistryLoginUsed(id: Int64, at time: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE registryLogin SET lastUsedAt = ? WHERE id = ?", arguments: [time, id])
        }
    }
}
