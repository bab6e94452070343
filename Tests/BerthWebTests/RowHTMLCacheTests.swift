@testable import BerthWeb
import EngineAPI
import Foundation
import Testing

/// The container list's rendered rows are kept while pages show them, and no longer.
@Suite struct RowHTMLCacheTests {
    static func row(_ id: String, status: String = "Up 1 second") throws -> ContainerRow {
        let json = #"{"Id":"\#(id)","Names":["/\#(id)"],"State":"running","Status":"\#(status)"}"#
        return ContainerRow(try JSONDecoder().decode(ContainerSummary.self, from: Data(json.utf8)))
    }

    @Test func aRowShownAgainIsKeptAndOneShownNoMoreIsDropped() throws {
        // Every store starts a generation: what two stores in a row did not show again is gone.
        let cache = RowHTMLCache(lifetime: .zero)
        let (a, b, c, d) = (try Self.row("a"), try Self.row("b"), try Self.row("c"), try Self.row("d"))
        cache.store([a: "<tr>a</tr>"])
        cache.store([b: "<tr>b</tr>"])
        // `a` is shown again: it comes from the older generation and moves to the newer.
        #expect(cache.html(for: [a, b]) == ["<tr>a</tr>", "<tr>b</tr>"])
        cache.store([c: "<tr>c</tr>"])
        cache.store([d: "<tr>d</tr>"])
        #expect(cache.html(for: [a, b, c, d]) == [nil, nil, "<tr>c</tr>", "<tr>d</tr>"])
        #expect(cache.count == 2)
    }

    @Test func aRowWhoseStatusChangedIsANewRowAndTheOldOneGoes() throws {
        let cache = RowHTMLCache(lifetime: .zero)
        for second in 1...100 {
            let row = try Self.row("young", status: "Up \(second) seconds")
            #expect(cache.html(for: [row]) == [nil])
            cache.store([row: "<tr>\(second)</tr>"])
        }
        // It held 100 rows of past seconds before; now the last two.
        #expect(cache.count == 2)
    }

    @Test func withinItsLifetimeEveryRowStays() throws {
        let cache = RowHTMLCache()
        let rows = try (0..<50).map { try Self.row("c\($0)") }
        for row in rows { cache.store([row: row.id]) }
        #expect(cache.html(for: rows) == rows.map(\.id))
    }
}
