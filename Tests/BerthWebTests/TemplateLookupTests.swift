@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import Hummingbird
import Logging
import Mustache
import NIOEmbedded
import Testing

/// The types that answer template lookups by hand (`Views/TemplateLookup.swift`) answer every stored property: one
/// added without its `case` would render blank, and no page test need notice.
@Suite struct TemplateLookupTests {
    /// Fails for each stored property of `value` its lookup does not answer. A nil optional can't be told from a
    /// property not answered, so the samples below set every optional, and a nil one fails too.
    func expectEveryStoredPropertyAnswered(_ value: some MustacheParent, sourceLocation: SourceLocation = #_sourceLocation) {
        let type = String(describing: type(of: value))
        for child in Mirror(reflecting: value).children {
            guard let label = child.label else { continue }
            let inner = Mirror(reflecting: child.value)
            if inner.displayStyle == .optional && inner.children.isEmpty {
                Issue.record("the sample's \(type).\(label) is nil: set it, so that its lookup can be checked", sourceLocation: sourceLocation)
                continue
            }
            #expect(value.child(named: label) != nil, "\(type).\(label) is not answered by its lookup", sourceLocation: sourceLocation)
        }
    }

    static let preferences = UserPreferences()

    @Test func everyHandWrittenLookupAnswersEveryStoredProperty() throws {
        let labels = (1...6).map { #""l\#($0)":"v""# }.joined(separator: ",")
        let json = #"{"Id":"abc123","Names":["/web"],"Image":"busybox","Command":"sh","State":"running","Status":"Up","Created":1700000000,"Ports":[{"PrivatePort":80,"Type":"tcp"}],"Labels":{\#(labels)}}"#
        var row = ContainerRow(try JSONDecoder().decode(ContainerSummary.self, from: Data(json.utf8)))
        row.selectable = true
        row.engineName = "prod"
        expectEveryStoredPropertyAnswered(row)
        expectEveryStoredPropertyAnswered(try #require(row.labels.first))

        let page = ContainerListPage(
            // Two pages: the pager is there too.
            query: ContainerListQuery(["all": "1", "per": "50"]), rows: Array(repeating: row, count: 60), runningCount: 60, totalShown: 60,
            engineProblem: EngineProblem(address: "unix:///x", message: "down")
        )
        expectEveryStoredPropertyAnswered(page)

        let admin = SignedInUser(username: "alice", role: .admin, csrfToken: "t", sessionKey: "k")
        var context = BerthRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        context.user = admin
        context.flash = Flash(.ok, "done")
        let engines = EngineDirectory(
            local: EngineHandle(name: "local", client: EngineClient(address: .unix(path: "/nonexistent")), roleGroups: nil),
            others: [EngineHandle(name: "prod", client: EngineClient(address: .unix(path: "/nonexistent")), roleGroups: nil)]
        )
        defer { Task { await engines.shutdown() } }
        context.engineAccess = EngineAccess(directory: engines, roles: EngineRoles())
        context.scopedEngine = engines.named("prod")
        context.enginePath = "/engines/prod"
        expectEveryStoredPropertyAnswered(PageContext(page, context: context))
        expectEveryStoredPropertyAnswered(CurrentUser(admin))
        expectEveryStoredPropertyAnswered(DisplaySettings(Self.preferences))
        expectEveryStoredPropertyAnswered(DisplayTime(Date(), preferences: Self.preferences))

        let viewer = SignedInUser(username: "bob", role: .viewer, csrfToken: "t", sessionKey: "k")
        let filters = AuditFilters(
            ["actor": "a", "action": "container.stop", "target": "t", "outcome": "maybe", "engine": "prod", "from": "x", "to": "y", "q": "z", "before": "9"], user: viewer
        )
        expectEveryStoredPropertyAnswered(filters)
        var list = AuditListPage(filters: filters, isAdmin: true, preferences: Self.preferences, engineNames: ["local", "prod"])
        let event = AuditEvent(
            requestId: "r", actor: "alice", role: "admin", clientAddress: "127.0.0.1", userAgent: "ua", action: "console.close",
            targetType: "container", targetId: "abc123", targetName: "web", engine: "unix:///x", parameters: #"{"recording":"4"}"#,
            outcome: .error,
            errorMessage: "no", durationMs: 3
        )
        var stored = event
        stored.id = 7
        stored.hash = "h"
        let auditRow = AuditRow(stored, liveContainers: ["abc123"], preferences: Self.preferences)
        expectEveryStoredPropertyAnswered(auditRow)
        list.rows = [auditRow]
        list.nextLink = "/audit?before=7"
        expectEveryStoredPropertyAnswered(list)
    }
}
