import BerthStore
import Foundation
import Testing
import TestSupport

@Suite struct ProjectVersionTests {
    @Test func everyChangedSaveIsTheNextVersionAndAnUnchangedOneIsNone() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("berth.sqlite").path)
        let first = try #require(try await database.saveProjectVersion(
            project: "shop", composeFile: "services: {}\n", envFile: "", author: "alice", message: "first"
        ))
        #expect(first.number == 1 && first.contentHash == ProjectVersion.hash(composeFile: "services: {}\n", envFile: ""))
        #expect(try await database.saveProjectVersion(project: "shop", composeFile: "services: {}\n", envFile: "", author: "bob", message: "again") == nil)
        let second = try #require(try await database.saveProjectVersion(
            project: "shop", composeFile: "services: {}\n", envFile: "TAG=2\n", author: "bob", message: "tag 2"
        ))
        #expect(second.number == 2 && second.contentHash != first.contentHash)
        _ = try await database.saveProjectVersion(project: "blog", composeFile: "x", envFile: "", author: "alice", message: "")
        #expect(try await database.projectVersions("shop").map(\.number) == [2, 1])
        #expect(try await database.projectVersion("shop", number: 1)?.message == "first")
        #expect(try await database.latestProjectVersions().map { "\($0.project) \($0.number)" } == ["blog 1", "shop 2"])
    }
}
