import BerthStore
import Foundation
import GRDB
import Testing
import TestSupport

/// Searching and exporting the trail: the filters return exactly the rows they should, pages never overlap or skip.
@Suite struct AuditQueryTests {
    static let actors = ["alice", "bob", "carol"]
    static let actions = ["container.start", "container.stop", "login", "image.pull"]

    /// 600 rows with a known pattern: row i (1-based) has actor i%3, action i%4, outcome denied when i%10 == 0.
    func seeded() async throws -> (AppDatabase, URL) {
        let directory = try Repository.temporaryDirectory()
        let database = try AppDatabase.open(path: directory.appendingPathComponent("q.sqlite").path)
        for index in 1...600 {
            try await database.recordAudit(AuditEvent(
                actor: Self.actors[index % 3], action: Self.actions[index % 4], targetType: "container",
                targetId: String(format: "%064x", index), targetName: "app-\(index)",
                parameters: index == 333 ? #"{"note":"needle_in 100%"}"# : nil,
                outcome: index % 10 == 0 ? .denied : .ok, errorMessage: index % 10 == 0 ? "role viewer may not" : nil
            ))
        }
        return (database, directory)
    }

    /// Every page of the search, followed by its `nextBefore`.
    func allPages(_ database: AppDatabase, _ query: AuditQuery, limit: Int) async throws -> [[Int64]] {
        var pages: [[Int64]] = []
        var query = query
        while true {
            let page = try await database.auditEvents(matching: query, limit: limit)
            pages.append(page.events.compactMap(\.id))
            guard let next = page.nextBefore else { return pages }
            query.before = next
        }
    }

    @Test func pagesAreNewestFirstAndCoverEveryRowOnce() async throws {
        let (database, directory) = try await seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pages = try await allPages(database, AuditQuery(), limit: 50)
        #expect(pages.count == 12)
        let newestFirst: [Int64] = (1...600).reversed().map(Int64.init)
        #expect(pages.flatMap { $0 } == newestFirst)
    }

    @Test func filtersCombineAndMatchExactly() async throws {
        let (database, directory) = try await seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        let query = AuditQuery(actor: "bob", action: "container.stop", outcome: .ok)
        let ids = try await allPages(database, query, limit: 7).flatMap { $0 }
        let matching: [Int] = (1...600).filter { $0 % 3 == 1 && $0 % 4 == 1 && $0 % 10 != 0 }
        let expected: [Int64] = matching.reversed().map(Int64.init)
        #expect(ids == expected)
        let denied = try await allPages(database, AuditQuery(outcome: .denied), limit: 25).flatMap { $0 }
        let everyTenth: [Int64] = (1...60).reversed().map { Int64($0 * 10) }
        #expect(denied == everyTenth)
    }

    @Test func targetMatchesANameAnIdOrAnIdPrefix() async throws {
        let (database, directory) = try await seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await database.auditEvents(matching: AuditQuery(target: "app-42")).events.map(\.id) == [42])
        let full = String(format: "%064x", 77)
        #expect(try await database.auditEvents(matching: AuditQuery(target: full)).events.map(\.id) == [77])
        // 77 is 0x4d: the prefix without the last digit is shared by 0x40…0x4f.
        let prefix = String(full.prefix(63))
        let byPrefix = try await database.auditEvents(matching: AuditQuery(target: prefix), limit: 1000).events.compactMap(\.id)
        let shared: [Int64] = (64...79).reversed().map(Int64.init)
        #expect(byPrefix == shared)
    }

    @Test func freeTextFindsAnyColumnAndTreatsWildcardsLiterally() async throws {
        let (database, directory) = try await seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await database.auditEvents(matching: AuditQuery(text: "needle_in 100%")).events.map(\.id) == [333])
        // `_` and `%` are not wildcards: "needle_in" does not match "needleXin".
        #expect(try await database.auditEvents(matching: AuditQuery(text: "needle%in")).events.isEmpty)
        let viewer = try await allPages(database, AuditQuery(text: "VIEWER may"), limit: 100).flatMap { $0 }
        #expect(viewer.count == 60, "LIKE is case-insensitive for ASCII")
        // Through the index, page by page, within a time range and with other filters.
        let all = Array(try await database.recentAuditEvents(limit: 1000).reversed())
        let paged = try await allPages(
            database, AuditQuery(outcome: .denied, from: all[99].time, to: all[499].time, text: "viewer"), limit: 7
        ).flatMap { $0 }
        let expectedDenied: [Int64] = (100...499).filter { $0 % 10 == 0 }.reversed().map(Int64.init)
        #expect(paged == expectedDenied)
        // Short text is matched without the index.
        #expect(try await allPages(database, AuditQuery(text: "p-"), limit: 1000).flatMap { $0 }.count == 600)
        // Ids are left to the target filter.
        #expect(try await database.auditEvents(matching: AuditQuery(text: String(format: "%064x", 77))).events.isEmpty)
    }

    @Test func aTimeRangeIsHalfOpenAndCombinesWithPages() async throws {
        let (database, directory) = try await seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        let all = Array(try await database.recentAuditEvents(limit: 1000).reversed())
        let from = all[99].time  // row 100
        let to = all[399].time  // row 400
        let ids = try await allPages(database, AuditQuery(from: from, to: to), limit: 40).flatMap { $0 }
        let expected = all.filter { $0.time >= from && $0.time < to }.compactMap(\.id).reversed()
        #expect(ids == Array(expected))
        #expect(ids.first.map { $0 < 400 } == true)
        #expect(try await database.auditEvents(matching: AuditQuery(from: Date().addingTimeInterval(3600))).events.isEmpty)
        #expect(try await database.auditEvents(matching: AuditQuery(to: Date(timeIntervalSince1970: 0))).events.isEmpty)
    }

    @Test func anExportStreamsEveryMatchingRowInBatches() async throws {
        let (database, directory) = try await seeded()
        defer { try? FileManager.default.removeItem(at: directory) }
        var batches = 0
        var ids: [Int64] = []
        for try await batch in database.auditExport(matching: AuditQuery(actor: "alice"), batchSize: 64) {
            #expect(batch.count <= 64)
            batches += 1
            ids += batch.compactMap(\.id)
        }
        let alices: [Int64] = (1...600).filter { $0 % 3 == 0 }.reversed().map(Int64.init)
        #expect(ids == alices)
        #expect(batches == 4)
    }
}

@Suite struct AuditExportFormatTests {
    let hostile = AuditEvent(
        actor: "alice", action: "container.rename", targetId: "abc", targetName: "evil\n2026,ghost,\u{1b}[31mred\u{1b}[0m\"q\"",
        parameters: #"{"name":"=HYPERLINK(\"x\")"}"#, outcome: .error, errorMessage: "line1\r\nline2\u{7f}\u{85}"
    )

    @Test func csvKeepsOneRowPerLineAndDisarmsFormulasAndEscapes() {
        var event = hostile
        event.id = 7
        event.targetName = "=cmd|' /C calc'!A0"
        let line = AuditExportFormat.csv.line(event)
        #expect(line.hasSuffix("\r\n"))
        #expect(line.dropLast(2).contains("\n") == false)
        #expect(line.contains(#""'=cmd|' /C calc'!A0""#))
        #expect(line.contains(#""line1\r\nline2\x7f\x85""#))
        let header = AuditExportFormat.csv.header ?? ""
        #expect(header.split(separator: ",").count == 17)
        #expect(header.hasPrefix("id,time,requestId,actor"))
    }

    @Test func ndjsonIsOneValidObjectPerLineWithControlCharactersShown() throws {
        var event = hostile
        event.id = 9
        event.durationMs = 12
        let line = AuditExportFormat.ndjson.line(event)
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["id"] as? Int == 9)
        #expect(object["durationMs"] as? Int == 12)
        #expect(object["requestId"] is NSNull)
        #expect(object["targetName"] as? String == #"evil\n2026,ghost,\x1b[31mred\x1b[0m"q""#)
        #expect(object["outcome"] as? String == "error")
    }

    @Test func backslashesAndInvisibleCharactersAreShown() {
        #expect(AuditText.neutralised(#"a\nb"#) == #"a\\nb"#, "a typed backslash-n is not a newline")
        #expect(AuditText.neutralised("safe\u{202E}txt.exe") == #"safe\u202etxt.exe"#)
        #expect(AuditText.neutralised("zero\u{200B}width") == #"zero\u200bwidth"#)
        #expect(AuditText.neutralised("plain café ✓") == "plain café ✓")
    }

    @Test func timesAreUTCWithMilliseconds() {
        #expect(AuditText.timestamp(Date(timeIntervalSince1970: 1_795_000_000.125)) == "2026-11-18T11:06:40.125Z")
        #expect(AuditText.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }

    @Test func typedTimesAreReadAsUTC() {
        #expect(AuditQuery.parseTime("2026-11-23") == Date(timeIntervalSince1970: 1_795_392_000))
        #expect(AuditQuery.parseTime("2026-11-23T08:15") == Date(timeIntervalSince1970: 1_795_392_000 + 8 * 3600 + 15 * 60))
        #expect(AuditQuery.parseTime("2026-11-23 08:15:30Z") == Date(timeIntervalSince1970: 1_795_392_000 + 8 * 3600 + 15 * 60 + 30))
        for bad in ["", "yesterday", "2026-13-01", "2026-02-30", "2026-11-23T25:00", "2026-11-23T08", "1e9"] {
            #expect(AuditQuery.parseTime(bad) == nil, "\(bad)")
        }
    }
}
