import Foundation
import GRDB

/// An engine an admin added in the browser (engines of `berth.toml` have no row). Its private keys — the TLS client key,
/// the SSH user key — are sealed with the secret key (`SecretKey`), bound to the engine's name and what they are; the
/// row holds only the sealed bytes and the key's id. Certificates and known hosts are public and kept as text.
public struct EngineRecord: Codable, Sendable, Equatable {
    public var name: String
    public var address: String
    public var tlsCA: String?
    public var tlsCertificate: String?
    public var tlsKey: Data?
    public var sshKey: Data?
    public var knownHosts: String?
    /// The id of the key that sealed `tlsKey` and `sshKey`.
    public var keyId: String?
    public var adminGroup: String?
    public var operatorGroup: String?
    public var viewerGroup: String?
    public var consoleGroup: String?
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date?

    public init(name: String, address: String, createdBy: String, createdAt: Date = Date()) {
        self.name = name
        self.address = address
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    /// What a sealed key is bound to: it opens only as that key of that engine.
    public static func sealContext(engine: String, secret: Secret) -> String {
        "engine\u{0}\(engine)\u{0}\(secret.rawValue)"
    }

    /// Why a save did nothing.
    public enum SaveConflict: Error, Sendable {
        case exists, gone
    }

    public enum Secret: String, Sendable {
        case tlsKey = "tls-key"
        case sshKey = "ssh-key"
    }
}

extension EngineRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "engine"
}

extension AppDatabase {
    /// The engines added in the browser, by name.
    public func savedEngines() async throws -> [EngineRecord] {
        try await writer.read { db in try EngineRecord.order(Column("name")).fetchAll(db) }
    }

    public func savedEngine(named name: String) async throws -> EngineRecord? {
        try await writer.read { db in try EngineRecord.fetchOne(db, key: name) }
    }

    /// Adds an engine (`isNew`: refused if one has its name) or changes one (refused if it is gone).
    public func saveEngine(_ engine: EngineRecord, isNew: Bool) async throws {
        try await writer.write { db in
            let exists = try EngineRecord.exists(db, key: engine.name)
            if isNew {
                guard !exists else { throw EngineRecord.SaveConflict.exists }
                try engine.insert(db)
            } else {
                guard exists else { throw EngineRecord.SaveConflict.gone }
                try engine.update(db)
            }
        }
    }

    /// Whether there was one to remove.
    @discardableResult
    public func deleteEngine(named name: String) async throws -> Bool {
        try await writer.write { db in try EngineRecord.deleteOne(db, key: name) }
    }
}
