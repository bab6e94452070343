@testable import BerthWeb
import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// Tag, remove and prune on the real engine, through the pages, by role.
@Suite(.serialized) struct ImageActionTests {


    /// A new image of its own (busybox plus one file), tagged `reference`.
    func uniqueImage(_ engine: EngineClient, _ scope: ContainerScope, _ reference: ImageReference) async throws -> String {
        let id = try await scope.busybox(["sh", "-c", "echo \(UUID().uuidString) > /marker"])
        _ = try await engine.waitContainer(id)
        return try await engine.commitContainer(id, options: CommitOptions(repository: reference.repository, tag: reference.tag)).id
    }

    @Test func operatorsTagAdminsRemoveAndTheDaemonsRefusalIsShown() async throws {
        try await TestEngine.withContainers { engine, scope in
            let suffix = UUID().uuidString.prefix(8).lowercased()
            let reference = try ImageReference(parsing: "berth-test/own:\(suffix)")
            let imageId = try await uniqueImage(engine, scope, reference)
            try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let page = try await client.execute(uri: "/images/\(imageId)", method: .get, headers: operatorBrowser.getHeaders)
                #expect(page.status == .ok)
                #expect(page.text.contains("<h2>History</h2>") && page.text.contains("echo"), "the history shows the commit's command")

                let tagged = try await post(client, operatorBrowser, "/images/\(imageId)/tag", [("repository", "berth-test/copy"), ("tag", suffix)])
                #expect(try await flash(after: tagged, client, operatorBrowser) == "Tagged as berth-test/copy:\(suffix).")
                #expect(try await engine.inspectImage("berth-test/copy:\(suffix)").id == imageId)
                let badTag = try await post(client, operatorBrowser, "/images/\(imageId)/tag", [("repository", "Bad Name"), ("tag", "x")])
                #expect(try await flash(after: badTag, client, operatorBrowser)?.contains("be part of an image name") == true)

                let refused = try await post(client, operatorBrowser, "/images/\(imageId)/remove")
                #expect(refused.status == .forbidden)

                // A container uses the image: without force the daemon says no, and that is what the page says.
                let user = try await engine.createContainer(ContainerCreateRequest(
                    image: reference.description, cmd: ["true"], labels: [TestEngine.label: "1"], hostConfig: .init(networkMode: "none")
                ))
                let admin = try await signIn(client, as: "bt-admin")
                let untag = try await post(client, admin, "/images/berth-test%2Fcopy:\(suffix)/remove")
                #expect(try await flash(after: untag, client, admin)?.contains("1 tag(s) untagged") == true)
                let conflict = try await post(client, admin, "/images/\(imageId)/remove")
                let conflictText = try await flash(after: conflict, client, admin) ?? ""
                #expect(conflictText.contains("conflict") || conflictText.contains("being used"), "\(conflictText)")
                #expect(try await engine.inspectImage(imageId).id == imageId)
                try await engine.removeContainer(user.id, force: true)
                let removed = try await post(client, admin, "/images/\(imageId)/remove", [("force", "1")])
                #expect(try await flash(after: removed, client, admin)?.hasPrefix("Removed") == true)
                await #expect(throws: EngineError.self) { _ = try await engine.inspectImage(imageId) }

                let events = try await app.auditEvents()
                // Closures out of #expect: Swift 6.3.1 can run one inside #expect in place of a later one (ExecTests).
                let tags = events.filter { $0.action == "image.tag" }.map(\.outcome)
                let removals = events.filter { $0.action == "image.remove" }.map(\.outcome)
                let denial = events.first { $0.action == "image.remove" && $0.outcome == .denied }
                #expect(tags == [.error, .ok])
                #expect(removals == [.ok, .error, .ok, .denied])
                #expect(denial?.targetType == "image" && denial?.targetId == imageId, "a refusal names what it was about")
            }
        }
    }

    @Test func pruneShowsWhatGoesThenRemovesIt() async throws {
        try await TestEngine.withContainers { engine, scope in
            let reference = try ImageReference(parsing: "berth-test/dangling:\(UUID().uuidString.prefix(8).lowercased())")
            let first = try await uniqueImage(engine, scope, reference)
            // Tagging another image with the same name leaves the first one without a tag.
            _ = try await uniqueImage(engine, scope, reference)
            try await withTestApp { client, app in
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let notAllowed = try await client.execute(uri: "/images/prune", method: .get, headers: operatorBrowser.getHeaders)
                #expect(notAllowed.status == .forbidden)
                let admin = try await signIn(client, as: "bt-admin")
                let preview = try await client.execute(uri: "/images/prune", method: .get, headers: admin.getHeaders)
                #expect(preview.status == .ok)
                #expect(preview.text.contains(#"data-image-id="\#(first)""#))
                #expect(try await engine.inspectImage(first).id == first, "a preview removes nothing")
                let pruned = try await post(client, admin, "/images/prune")
                let job = try await finishedJob(after: pruned, app)
                #expect(job.state == .succeeded && job.message?.hasPrefix("Pruned:") == true, "\(String(describing: job.message))")
                #expect(job.log?.contains("deleted \(first)") == true)
                await #expect(throws: EngineError.self) { _ = try await engine.inspectImage(first) }
                let row = try #require(try await app.auditEvents().first { $0.action == "image.prune" })
                #expect(row.outcome == .ok && row.actor == "bt-admin")
                #expect(row.parameters?.contains("spaceReclaimed") == true)
            }
            _ = try? await engine.removeImage(reference.description, force: true)
        }
    }
}
