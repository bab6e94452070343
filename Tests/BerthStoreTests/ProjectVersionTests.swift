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

    @Test func aSaveBasedOnAnOlderVersionOrWhoseFilesCannotBeWrittenSavesNothing() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try AppDatabase.open(path: directory.appendingPathComponent("berth.sqlite").path)
        _ = try await database.saveProjectVersion(project: "shop", composeFile: "a", envFile: "", author: "alice", message: "", expectedLatest: 0)
        // Someone saved version 1 meanwhile: a second "new project" and an edit of version 0 are stale.
        await #expect(throws: AppDatabase.StaleVersion.self) {
            _ = try await database.saveProjectVersion(project: "shop", composeFile: "b", envFile: "", author: "bob", message: "", expectedLatest: 0)
        }
        struct DiskFull: Error {}
        await #expect(throws: DiskFull.self) {
            _ = try await database.saveProjectVersion(
                project: "shop", composeFile: "c", envFile: "", author: "bob", message: "", expectedLatest: 1, beforeCommit: { _ in throw DiskFull() }
            )
        }
        #expect(try await database.projectVersions("shop").map(\.composeFile) == ["a"])
        let summaries = try await database.projectVersionSummaries("shop")
        #expect(summaries.map(\.number) == [1] && summaries[0].composeFile.isEmpty && summaries[0].contentHash == ProjectVersion.hash(composeFile: "a", envFile: ""))
        #expect(try await database.latestProjectVersion("shop")?.composeFile == "a")
        #expect(try await database.deleteProjectVersions("shop") == 1)
        #expect(try await database.latestProjectVersion("shop") == nil)
    }
}
