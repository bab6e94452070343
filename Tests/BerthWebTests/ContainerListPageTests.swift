@testable import BerthWeb
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import Testing
import TestSupport

@Suite struct ContainerListPageTests {
    @Test func creationTimesReadAsDockerPsWouldWriteThem() {
        #expect(ContainerRow.format(epochSeconds: 0) == "1970-01-01 00:00 UTC")
        #expect(ContainerRow.format(epochSeconds: 1_795_000_000) == "2026-11-18 11:06 UTC")
        #expect(ContainerRow.format(epochSeconds: 253_402_300_799) == "9999-12-31 23:59 UTC")
    }

    @Test func showsARunningContainerFromTheRealEngine() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("web-list")
            let id = try await scope.busybox(["sleep", "300"], name: name, labels: ["team": "payments"])
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-viewer")
                try await client.execute(uri: "/containers", method: .get, headers: browser.getHeaders) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    let html = response.text
                    #expect(html.contains(name))
                    #expect(html.contains(String(id.prefix(12))))
                    #expect(html.contains("team=payments"))
                    #expect(html.contains("state-running"))
                }
            }
        }
    }

    @Test func theRunningSwitchHidesStoppedContainersAndAllShowsThem() async throws {
        try await TestEngine.withContainers { client, scope in
            let name = TestEngine.uniqueName("web-exited")
            let id = try await scope.busybox(["true"], name: name)
            _ = try await client.waitContainer(id)
            try await withTestApp { app, _ in
                let browser = try await signIn(app, as: "bt-viewer")
                try await app.execute(uri: "/containers", method: .get, headers: browser.getHeaders) { response in
                    #expect(!response.text.contains(name))
                }
                try await app.execute(uri: "/containers?all=1", method: .get, headers: browser.getHeaders) { response in
                    #expect(response.status == .ok)
                    #expect(response.text.contains(name))
                    #expect(response.text.contains("state-exited"))
                }
            }
        }
    }

    /// 55 containers (created, not started) and 50 a page: the browser gets 50 rows and a link to the rest, which
    /// keeps the filters and the order; the counts are the whole list's; a page past the end shows the last one.
    @Test func aLongListComesAPageAtATimeWithItsFiltersKept() async throws {
        try await TestEngine.withContainers { _, scope in
            let tag = TestEngine.uniqueName("paged")
            for index in 0..<55 {
                try await scope.busybox(["true"], name: "\(tag)-\(String(format: "%02d", index))", start: false)
            }
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-viewer")
                func names(_ html: String) -> [String] {
                    html.components(separatedBy: "title=\"").dropFirst().compactMap { part in
                        part.components(separatedBy: "</a>").first?.components(separatedBy: ">").last
                    }.filter { $0.hasPrefix(tag) }
                }
                let first = try await client.execute(uri: "/containers?all=1&name=\(tag)&sort=name&per=50", method: .get, headers: browser.getHeaders)
                #expect(first.status == .ok)
                #expect(names(first.text) == (0..<50).map { "\(tag)-\(String(format: "%02d", $0))" })
                #expect(first.text.contains("55 shown, 0 running"))
                #expect(first.text.contains("1–50 of 55 · page 1 of 2"))
                let next = "/containers?all=1&amp;name=\(tag)&amp;sort=name&amp;per=50&amp;page=2"
                #expect(first.text.contains("href=\"\(next)\" rel=\"next\""), "the next page's link keeps the filters")
                let second = try await client.execute(uri: next.replacingOccurrences(of: "&amp;", with: "&"), method: .get, headers: browser.getHeaders)
                #expect(names(second.text) == (50..<55).map { "\(tag)-\(String(format: "%02d", $0))" })
                #expect(second.text.contains("51–55 of 55 · page 2 of 2") && second.text.contains("rel=\"prev\""))
                let past = try await client.execute(uri: "/containers?all=1&name=\(tag)&sort=name&per=50&page=9", method: .get, headers: browser.getHeaders)
                #expect(names(past.text) == names(second.text), "a page past the end shows the last one")
                let huge = try await client.execute(uri: "/containers?all=1&name=\(tag)&sort=name&per=50&page=99999999999999999999999", method: .get, headers: browser.getHeaders)
                #expect(names(huge.text) == names(second.text), "a page number past any Int is past the end too")
                // The Running/All switch keeps the filters, the order and the page size; clearing the filters keeps
                // the order and the page size.
                #expect(first.text.contains("href=\"/containers?all=0&amp;name=\(tag)&amp;sort=name&amp;per=50\">Running</a>"))
                #expect(first.text.contains("href=\"/containers?all=1&amp;sort=name&amp;per=50\">clear filters</a>"))
                // The default page holds 100: no pager for 55.
                let whole = try await client.execute(uri: "/containers?all=1&name=\(tag)", method: .get, headers: browser.getHeaders)
                #expect(names(whole.text).count == 55 && !whole.text.contains("class=\"pager\""))
            }
        }
    }

    @Test func thePagersNumbersAreGroupedByThousands() {
        #expect([0, 7, 999, 1000, 5000, 12345, 1_234_567, -4200].map(\.grouped) == ["0", "7", "999", "1,000", "5,000", "12,345", "1,234,567", "-4,200"])
        let parameters: FlatDictionary<Substring, Substring> = ["per": "50", "page": "30"]
        let paging = ContainerListPaging(query: ContainerListQuery(parameters), total: 5000, path: "/containers")
        #expect(paging.position == "1,451–1,500 of 5,000 · page 30 of 100")
    }

    @Test func hostileLabelsCommandsAndNamesAreEscaped() async throws {
        let payload = "<img src=x onerror=alert(1)>"
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("web-hostile")
            try await scope.busybox(
                ["sh", "-c", "sleep 300 # \(payload)"], name: name,
                labels: ["evil": payload, "\"><script>alert(2)</script>": "k"]
            )
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-viewer")
                try await client.execute(uri: "/containers", method: .get, headers: browser.getHeaders) { response in
                    let html = response.text
                    #expect(html.contains(name))
                    #expect(!html.contains("<img src=x"))
                    #expect(!html.contains("<script>alert(2)"))
                    #expect(html.contains("evil=&lt;img src=x onerror=alert(1)&gt;"))
                    #expect(html.contains("sleep 300 # &lt;img src=x onerror=alert(1)&gt;"))
                }
            }
        }
    }

    @Test func theRootRedirectsToTheContainerList() async throws {
        try await withTestApp { client, _ in
            let browser = try await signIn(client, as: "bt-viewer")
            try await client.execute(uri: "/", method: .get, headers: browser.getHeaders) { response in
                #expect(response.status == .found)
                #expect(response.headers[.location] == "/containers")
            }
        }
    }

    @Test func withTheEngineDownThePageRendersABannerNamingTheEngine() async throws {
        let nowhere = EngineAddress.unix(path: "/tmp/berth-test-nowhere-\(UUID().uuidString.prefix(8)).sock")
        try await withTestApp(engine: nowhere) { client, _ in
            let browser = try await signIn(client, as: "bt-viewer")
            try await client.execute(uri: "/containers", method: .get, headers: browser.getHeaders) { response in
                #expect(response.status == .serviceUnavailable)
                let html = response.text
                #expect(html.contains("class=\"banner banner-error\""))
                #expect(html.contains("The Docker Engine at \(nowhere) cannot be reached."))
                #expect(html.contains("no socket at that path"))
                #expect(!html.contains("<table"))
            }
        }
    }
}

@Suite struct HealthTests {
    struct Report: Decodable {
        struct Engine: Decodable {
            var address: String
            var reachable: Bool
            var apiVersion: String?
            var error: String?
        }
        struct Database: Decodable { var ok: Bool }
        var status: String
        var engine: Engine
        var database: Database
    }

    @Test func healthIsOKWithTheEngineUpAndNamesTheNegotiatedVersion() async throws {
        let daemonVersion = try await TestEngine.withClient { try await $0.apiVersion() }
        try await withTestApp { client, _ in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(Report.self, from: Data(response.body.readableBytesView))
                #expect(report.status == "ok")
                #expect(report.engine.reachable)
                #expect(report.engine.apiVersion == daemonVersion.description)
                #expect(report.database.ok)
            }
        }
    }

    @Test func healthIs503WhenTheEngineSocketPointsNowhere() async throws {
        let nowhere = EngineAddress.unix(path: "/tmp/berth-test-nowhere.sock")
        try await withTestApp(engine: nowhere) { client, _ in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let report = try JSONDecoder().decode(Report.self, from: Data(response.body.readableBytesView))
                #expect(report.status == "unavailable")
                #expect(!report.engine.reachable)
                #expect(report.engine.address == "unix:///tmp/berth-test-nowhere.sock")
                #expect(report.engine.error?.contains("engine unreachable") == true)
                #expect(report.database.ok)
            }
        }
    }
}

@Suite struct StaticAndErrorPageTests {
    @Test func staticFilesAreServedWithCachingHeaders() async throws {
        try await withTestApp { client, _ in
            try await client.execute(uri: "/css/berth.css", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=3600")
                #expect(response.headers[.eTag] != nil)
                #expect(response.text.contains("table.containers"))
            }
        }
    }

    @Test func anUnknownPathIsAn404Page() async throws {
        try await withTestApp { client, _ in
            try await client.execute(uri: "/no/such/page", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.text.contains("404 · Not Found"))
            }
        }
    }
}
