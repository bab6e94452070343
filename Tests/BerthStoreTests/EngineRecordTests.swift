@testable import BerthStore
import Foundation
import GRDB
import Testing
import TestSupport

/// Engines added in the browser: their private keys are stored sealed, open only as what they were sealed as, and
/// never appear in the database file in the clear.
@Suite struct EngineRecordTests {
    @Test func aSavedEngineKeepsItsKeysSealedAndOpensThemOnlyAsThemselves() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("berth.sqlite").path
        let database = try AppDatabase.open(path: path)
        let key = try SecretKey.loadOrCreate(path: directory.appendingPathComponent("berth.key").path)
        let tlsKey = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASC-not-a-real-key-0123456789\n-----END PRIVATE KEY-----\n"
        let sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-not-a-real-key-9876543210\n-----END OPENSSH PRIVATE KEY-----\n"

        var engine = EngineRecord(name: "prod", address: "tcp://prod:2376", createdBy: "alice")
        engine.tlsCA = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
        engine.tlsKey = try key.seal(Data(tlsKey.utf8), context: EngineRecord.sealContext(engine: "prod", secret: .tlsKey))
        engine.sshKey = try key.seal(Data(sshKey.utf8), context: EngineRecord.sealContext(engine: "prod", secret: .sshKey))
        engine.keyId = key.id
        engine.operatorGroup = "prod-ops"
        try await database.saveEngine(engine, isNew: true)
        await #expect(throws: EngineRecord.SaveConflict.exists) { try await database.saveEngine(engine, isNew: true) }

        let stored = try #require(try await database.savedEngine(named: "prod"))
        #expect(stored.address == "tcp://prod:2376" && stored.operatorGroup == "prod-ops" && stored.createdBy == "alice")
        let opened = try key.open(try #require(stored.tlsKey), keyId: try #require(stored.keyId), context: EngineRecord.sealContext(engine: "prod", secret: .tlsKey))
        #expect(String(decoding: opened, as: UTF8.self) == tlsKey)
        // Bound to what it is: the TLS key does not open as the SSH key, nor as another engine's.
        #expect(throws: SecretKey.OpenError.damaged) {
            _ = try key.open(stored.tlsKey!, keyId: stored.keyId!, context: EngineRecord.sealContext(engine: "prod", secret: .sshKey))
        }
        #expect(throws: SecretKey.OpenError.damaged) {
            _ = try key.open(stored.tlsKey!, keyId: stored.keyId!, context: EngineRecord.sealContext(engine: "dev", secret: .tlsKey))
        }

        // Nothing of either key is in the file (nor its write-ahead log) in the clear.
        try await database.writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        if let wal = try? Data(contentsOf: URL(fileURLWithPath: path + "-wal")) { bytes += wal }
        for secret in ["not-a-real-key-0123456789", "not-a-real-key-9876543210"] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) is in the database file")
        }

        // Replaced by name; removed.
        engine.address = "tcp://prod:2377"
        try await database.saveEngine(engine, isNew: false)
        #expect(try await database.savedEngines().map(\.address) == ["tcp://prod:2377"])
        #expect(try await database.deleteEngine(named: "prod"))
        #expect(try await database.savedEngines().isEmpty)
        #expect(try await database.deleteEngine(named: "prod") == false)
        await #expect(throws: EngineRecord.SaveConflict.gone) { try await database.saveEngine(engine, isNew: false) }
    }
}
