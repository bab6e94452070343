import BerthWeb
import EngineAPI
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import TestSupport

/// Builds the real application (real engine, a fresh SQLite file, the repository's templates) for one test.
func withTestApp<Value: Sendable>(
    engine: EngineAddress? = nil,
    _ body: @Sendable (any TestClientProtocol) async throws -> Value
) async throws -> Value {
    let directory = try Repository.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let configuration = AppConfiguration(
        databasePath: directory.appendingPathComponent("berth.sqlite").path,
        engineAddress: try engine ?? TestEngine.address(),
        templatesDirectory: Repository.templates,
        publicDirectory: Repository.publicFolder,
        logLevel: .warning
    )
    let app = try await buildApplication(configuration)
    return try await app.test(.router, body)
}

extension TestResponse {
    var text: String { String(buffer: body) }
}
