@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Per-user settings: saved per unix user, applied on the pages, refused field by field, kept across restarts.
@Suite struct SettingsTests {
    static let valid: [(String, String)] = [
        ("theme", "dark"), ("containerFilter", "all"), ("logTailLines", "42"), ("logTimestamps", "1"),
        ("timeZone", "utc"), ("timeStyle", "absolute"), ("dateFormat", "dd.mm.yyyy"),
    ]

    func save(_ client: some TestClientProtocol, _ browser: Browser, _ fields: [(String, String)]) async throws -> TestResponse {
        try await client.execute(
            uri: "/settings", method: .post, headers: browser.postHeaders(), body: formBody([("_csrf", browser.csrfToken)] + fields)
        )
    }

    @Test func settingsRoundTripApplyOnThePagesAndSurviveARestart() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("kept.sqlite").path
        try await TestEngine.withContainers { engine, scope in
            let running = try await scope.busybox(["sleep", "300"])
            let exited = try await scope.busybox(["true"])
            _ = try await engine.waitContainer(exited)
            try await withTestApp(configure: { $0.databasePath = database }) { client, app in
                let browser = try await signIn(client, as: "bt-viewer")
                let defaults = try await client.execute(uri: "/settings", method: .get, headers: browser.getHeaders)
                #expect(defaults.status == .ok)
                #expect(defaults.text.contains(#"data-theme="system""#))
                // The default list shows running containers only.
                let before = try await client.execute(uri: "/containers", method: .get, headers: browser.getHeaders)
                #expect(before.text.contains(running) && !before.text.contains(exited))

                let saved = try await save(client, browser, Self.valid)
                #expect(saved.status == .seeOther)
                let rows = try await app.auditEvents().filter { $0.action == "settings.update" }
                #expect(rows.count == 1)
                #expect(rows.first?.outcome == .ok)
                #expect(rows.first?.parameters?.contains(#""theme":"dark""#) == true)
                #expect(rows.first?.targetId == "bt-viewer")
            }
            // A new server on the same database: the settings are still there and applied.
            try await withTestApp(configure: { $0.databasePath = database }) { client, _ in
                let browser = try await signIn(client, as: "bt-viewer")
                let page = try await client.execute(uri: "/settings", method: .get, headers: browser.getHeaders)
                #expect(page.text.contains(#"data-theme="dark""#))
                #expect(page.text.contains(#"data-time-zone="utc""#))
                #expect(page.text.contains(#"data-date-format="dd.mm.yyyy""#))
                #expect(page.text.contains(#"value="42""#))
                #expect(page.text.contains(#"<option value="all" selected>"#))
                let list = try await client.execute(uri: "/containers", method: .get, headers: browser.getHeaders)
                #expect(list.text.contains(running) && list.text.contains(exited), "the list shows all by the setting")
                let onlyRunning = try await client.execute(uri: "/containers?all=0", method: .get, headers: browser.getHeaders)
                #expect(!onlyRunning.text.contains(exited))
                let logs = try await client.execute(uri: "/containers/\(running)/logs", method: .get, headers: browser.getHeaders)
                #expect(logs.text.contains("tail=42"))
                #expect(logs.text.contains(#"name="timestamps" checked"#))
                let container = try await client.execute(uri: "/containers/\(running)", method: .get, headers: browser.getHeaders)
                let day = DisplayTime.absolute(Date(), format: .european).prefix(10)
                #expect(container.text.contains(String(day)), "times in the chosen date format")

                // Another user's settings are their own.
                let other = try await signIn(client, as: "bt-operator")
                let theirs = try await client.execute(uri: "/settings", method: .get, headers: other.getHeaders)
                #expect(theirs.text.contains(#"data-theme="system""#))
            }
        }
    }

    @Test func invalidValuesAreRefusedFieldByFieldAndNothingIsSaved() async throws {
        try await withTestApp { client, app in
            let browser = try await signIn(client, as: "bt-operator")
            var fields = Self.valid.filter { !["theme", "logTailLines", "dateFormat"].contains($0.0) }
            fields += [("theme", "neon"), ("logTailLines", "-5"), ("dateFormat", "<b>yy</b>")]
            let refused = try await save(client, browser, fields)
            #expect(refused.status == .badRequest)
            #expect(refused.text.contains("Theme must be one of system, light, dark; “neon” is not."))
            #expect(refused.text.contains("Log lines must be a whole number from 1 to 100000, or “all”; “-5” is not."))
            #expect(refused.text.contains("Date format must be one of"))
            #expect(refused.text.contains("&lt;b&gt;yy&lt;/b&gt;"))
            #expect(!refused.text.contains("<b>yy</b>"))
            // The form keeps what was typed.
            #expect(refused.text.contains(#"value="-5""#))
            let store = try AppDatabase.open(path: app.configuration.databasePath)
            #expect(try await store.settings(of: "bt-operator").isEmpty)
            let audited = try await app.auditEvents().filter { $0.action == "settings.update" }
            #expect(audited.map(\.outcome) == [.error])
            // "all" is a valid number of log lines.
            let all = try await save(client, browser, Self.valid.filter { $0.0 != "logTailLines" } + [("logTailLines", "all")])
            #expect(all.status == .seeOther)
            #expect(try await store.settings(of: "bt-operator")["log.tail"] == "all")
        }
    }

    @Test func savingNeedsTheCSRFToken() async throws {
        try await withTestApp { client, app in
            let browser = try await signIn(client, as: "bt-viewer")
            let forged = try await client.execute(
                uri: "/settings", method: .post, headers: browser.postHeaders(csrf: false), body: formBody(Self.valid)
            )
            #expect(forged.status == .forbidden)
            #expect(try await AppDatabase.open(path: app.configuration.databasePath).settings(of: "bt-viewer").isEmpty)
        }
    }

    @Test func storedValuesThatNoLongerParseFallBackToDefaults() {
        let preferences = UserPreferences(stored: ["theme": "plaid", "log.tail": "0", "time.zone": "utc"])
        #expect(preferences.theme == .system)
        #expect(preferences.logTailLines == 500)
        #expect(preferences.timeZone == .utc)
    }

    @Test func timesShowInTheChosenFormatAndStyle() {
        var preferences = UserPreferences()
        let date = Date(timeIntervalSince1970: 1_795_392_000 + 8 * 3600 + 15 * 60 + 30)
        preferences.dateFormat = .american
        #expect(DisplayTime(date, preferences: preferences).text == "11/23/2026 08:15:30 UTC")
        preferences.dateFormat = .iso
        #expect(DisplayTime(date, preferences: preferences).text == "2026-11-23 08:15:30 UTC")
        preferences.timeStyle = .relative
        let shown = DisplayTime(date, preferences: preferences, now: date.addingTimeInterval(300))
        #expect(shown.text == "5 min ago")
        #expect(shown.absolute == "2026-11-23 08:15:30 UTC")
        #expect(shown.iso == "2026-11-23T08:15:30.000Z")
    }
}
