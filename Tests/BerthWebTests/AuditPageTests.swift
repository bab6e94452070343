@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// The audit trail in the browser, fed by real flows: sign-ins, container actions, refusals.
@Suite struct AuditPageTests {
    func get(_ client: some TestClientProtocol, _ browser: Browser, _ uri: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: browser.getHeaders)
    }


    /// The ids of the rows a page shows, in order.
    func rowIds(_ html: String) -> [Int64] {
        html.components(separatedBy: "data-audit-id=\"").dropFirst().compactMap { Int64($0.prefix { $0 != "\"" }) }
    }

    @Test func eachActionOfARealFlowLeavesExactlyOneRowAndTheChainVerifies() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sleep", "300"])
            try await withTestApp { client, app in
                let failed = try await postLogin(client, username: "bt-operator", password: "wrong-password")
                #expect(failed.status != .seeOther)
                let viewer = try await signIn(client, as: "bt-viewer")
                let refused = try await post(client, viewer, "/containers/\(id)/stop", [("timeout", "0")])
                #expect(refused.status == .forbidden)
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let stopped = try await post(client, operatorBrowser, "/containers/\(id)/stop", [("timeout", "0")])
                #expect(stopped.status == .seeOther)
                let gone = try await post(client, operatorBrowser, "/containers/no-such-container-\(UUID().uuidString.prefix(8))/start", [])
                #expect(gone.status == .seeOther)

                let events = try await app.auditEvents()
                func rows(_ action: String, _ outcome: AuditEvent.Outcome, _ actor: String) -> [AuditEvent] {
                    events.filter { $0.action == action && $0.outcome == outcome && $0.actor == actor }
                }
                #expect(rows("login", .denied, "bt-operator").count == 1)
                #expect(rows("login", .ok, "bt-viewer").count == 1)
                #expect(rows("login", .ok, "bt-operator").count == 1)
                let denied = rows("container.stop", .denied, "bt-viewer")
                #expect(denied.count == 1)
                #expect(denied.first?.targetId == id)
                #expect(rows("container.stop", .ok, "bt-operator").count == 1)
                let failedStart = rows("container.start", .error, "bt-operator")
                #expect(failedStart.count == 1)
                #expect(failedStart.first?.errorMessage?.isEmpty == false)
                #expect(events.count == 6, "\(events.map(\.action))")
                for event in events {
                    #expect(event.requestId != nil && event.hash != nil, "\(event.action) has its fields")
                    // A container's rows name its engine; a sign-in belongs to none.
                    #expect(event.engine == (event.action.hasPrefix("container.") ? "local" : nil), "\(event.action): \(event.engine ?? "none")")
                }
                let verification = try await AppDatabase.open(path: app.configuration.databasePath).verifyAuditChain()
                #expect(verification.isIntact, "\(verification)")
                #expect(try await engine.inspectContainer(id).state?.running == false)
            }
        }
    }

    @Test func adminsSeeEveryoneOthersOnlyThemselvesWhateverTheQuerySays() async throws {
        try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let viewer = try await signIn(client, as: "bt-viewer")
            let all = try await get(client, admin, "/audit")
            #expect(all.status == .ok)
            #expect(all.text.contains("bt-viewer") && all.text.contains("bt-admin"))
            let own = try await get(client, viewer, "/audit?actor=bt-admin")
            #expect(own.status == .ok)
            let shown = rowIds(own.text)
            let events = try await app.auditEvents()
            let viewersOwn = events.filter { $0.actor == "bt-viewer" }.compactMap(\.id)
            #expect(!shown.isEmpty)
            #expect(shown == viewersOwn)
            // The export is narrowed the same way.
            let export = try await get(client, viewer, "/audit/export?format=ndjson&actor=bt-admin")
            #expect(export.status == .ok)
            let actors = export.text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["actor"] as? String
            }
            #expect(!actors.isEmpty && actors.allSatisfy { $0 == "bt-viewer" })
        }
    }

    @Test func filtersPagesAndTheHostileTextOfARow() async throws {
        try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let store = try AppDatabase.open(path: app.configuration.databasePath)
            for index in 1...120 {
                try await store.recordAudit(AuditEvent(
                    actor: index % 2 == 0 ? "alice" : "bob", action: index % 3 == 0 ? "container.kill" : "container.start",
                    targetType: "container", targetId: "deadbeef\(index)", targetName: "svc-\(index)", outcome: .ok
                ))
            }
            try await store.recordAudit(AuditEvent(
                actor: "mallory", action: "container.rename", targetType: "container", targetId: "cafe",
                targetName: "evil\n<script>alert(1)</script>\u{1b}[31m", outcome: .error, errorMessage: "line1\nline2"
            ))
            // Newest first, 50 a page, "Older" continues where the page ended.
            let first = try await get(client, admin, "/audit?actor=alice&action=container.kill")
            let firstIds = rowIds(first.text)
            #expect(firstIds.count == 20)
            #expect(firstIds == firstIds.sorted(by: >))
            let bobs = try await get(client, admin, "/audit?actor=bob")
            #expect(rowIds(bobs.text).count == 50)
            let next = try #require(bobs.text.range(of: #"href="(/audit\?[^"]*before=[0-9]+)" rel="next""#, options: .regularExpression))
            let link = String(bobs.text[next]).dropFirst(6).prefix { $0 != "\"" }.replacingOccurrences(of: "&amp;", with: "&")
            let second = try await get(client, admin, String(link))
            let secondIds = rowIds(second.text)
            #expect(secondIds.count == 10)
            #expect(Set(secondIds).isDisjoint(with: rowIds(bobs.text)))
            #expect(secondIds.allSatisfy { $0 < rowIds(bobs.text).last! })

            let hostile = try await get(client, admin, "/audit?target=cafe")
            #expect(rowIds(hostile.text).count == 1)
            #expect(hostile.text.contains(#"evil\n&lt;script&gt;alert(1)&lt;/script&gt;\x1b[31m"#))
            #expect(!hostile.text.contains("<script>alert"))
            #expect(hostile.text.contains(#"line1\nline2"#))

            // The action filter offers every action the trail records, and nothing else; the chosen one stays chosen.
            let select = try #require(first.text.range(of: #"<select name="action">.*?</select>"#, options: .regularExpression))
            let offered = first.text[select].matches(of: /<option value="([^"]*)"/).map { String($0.1) }
            #expect(offered == [""] + AuditAction.allCases.map(\.rawValue))
            #expect(first.text[select].contains(#"<option value="container.kill" selected>"#))

            let bad = try await get(client, admin, "/audit?from=yesterday&outcome=maybe")
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains("is not a time like"))
            #expect(bad.text.contains("Outcome must be ok, denied or error."))
        }
    }

    @Test func theExportStreamsTheFilteredSetAndIsItselfAudited() async throws {
        try await withTestApp { client, app in
            let admin = try await signIn(client, as: "bt-admin")
            let store = try AppDatabase.open(path: app.configuration.databasePath)
            for index in 1...2500 {
                try await store.recordAudit(AuditEvent(
                    actor: "carol", action: "container.stop", targetName: "n,\"\(index)\"", outcome: index % 5 == 0 ? .error : .ok
                ))
            }
            let csv = try await get(client, admin, "/audit/export?format=csv&actor=carol&outcome=error")
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.headers[.contentDisposition]?.contains("attachment; filename=\"berth-audit-") == true)
            let lines = csv.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.first?.hasPrefix("id,time,requestId,actor") == true)
            #expect(lines.count == 1 + 500)
            #expect(lines.dropFirst().allSatisfy { $0.contains(#""carol""#) && $0.contains(#""error""#) })
            #expect(lines.contains { $0.contains(#""n,""2500""""#) }, "quotes are doubled, commas stay inside the cell")

            let exports = try await app.auditEvents().filter { $0.action == "audit.export" }
            #expect(exports.count == 1)
            #expect(exports.first?.actor == "bt-admin")
            #expect(exports.first?.parameters?.contains("csv") == true)
            #expect(exports.first?.parameters?.contains("carol") == true)

            let wrongFormat = try await get(client, admin, "/audit/export?format=xml")
            #expect(wrongFormat.status == .badRequest)
        }
    }
}
