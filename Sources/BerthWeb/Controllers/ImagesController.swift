import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// Images: the list, one image's page, and pulls with live progress. Tag, remove and prune come next.
struct ImagesController: Sendable {
    let engine: EngineClient
    let audit: AuditTrail
    let views: PageRenderer
    let streamer: EventStreamer
    let tickets: PullTickets

    func addRoutes(to routes: Routes) {
        routes.get("/images", .viewContainers, use: list)
        // Before /images/{id}: "pull" is a page, not an image.
        routes.post("/images/pull", .operateContainers, audit: .imagePull, use: startPull)
        routes.get("/images/pull/{ticket}", .operateContainers, use: pullPage)
        routes.get("/images/pull/{ticket}/stream", .operateContainers, audit: .imagePull, use: pullStream)
        routes.get("/images/prune", .administer, use: prunePreview)
        routes.post("/images/prune", .administer, audit: .imagePrune, use: prune)
        routes.get("/images/{id}", .viewContainers, use: show)
        routes.post("/images/{id}/tag", .operateContainers, audit: .imageTag, use: tag)
        routes.post("/images/{id}/remove", .administer, audit: .imageRemove, use: remove)
    }

    /// The image in the path: an id, or a reference with its `/` percent-encoded (`team%2Fapp:1`).
    static func imageParameter(_ context: SignedInContext) throws -> String {
        let raw = try context.parameters.require("id")
        return raw.removingPercentEncoding ?? raw
    }

    /// `POST /images/{id}/tag` (repository, tag): another name for the image.
    @Sendable func tag(_ request: Request, context: SignedInContext) async throws -> Response {
        let id = try Self.imageParameter(context)
        let form = context.form
        let page = "/images/\(EngineClientPath.escape(id))"
        let repository = (form["repository"] ?? "").trimmingCharacters(in: .whitespaces)
        let tag = (form["tag"] ?? "").trimmingCharacters(in: .whitespaces)
        let wanted: ImageReference
        do {
            wanted = try ImageReference(parsing: repository + ":" + (tag.isEmpty ? "latest" : tag))
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "image", parameters: ["repository": repository, "tag": tag],
                message: error.description, back: page
            )
        }
        let engine = self.engine
        return await audit.perform(
            context: context, targetType: "image", targetId: id, targetName: wanted.description,
            parameters: ["repository": wanted.repository, "tag": wanted.tag ?? "latest"], back: page,
            backOnFailure: { $0.kind == .notFound ? "/images" : page }
        ) {
            try await engine.tagImage(id, repository: wanted.repository, tag: wanted.tag ?? "latest")
            return "Tagged as \(wanted.description)."
        }
    }

    /// `POST /images/{id}/remove` (force, noprune): the daemon's own message when a container still uses it.
    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let id = try Self.imageParameter(context)
        let form = context.form
        let force = form.isChecked("force")
        let noprune = form.isChecked("noprune")
        let page = "/images/\(EngineClientPath.escape(id))"
        let engine = self.engine
        return await audit.perform(
            context: context, targetType: "image", targetId: id,
            parameters: ["force": force ? "1" : "0", "noprune": noprune ? "1" : "0"], back: "/images",
            backOnFailure: { $0.kind == .notFound ? "/images" : page }
        ) { () async throws -> AuditTrail.ActionDone in
            let items = try await engine.removeImage(id, force: force, noprune: noprune)
            let untagged = items.compactMap(\.untagged).count
            let deleted = items.compactMap(\.deleted).count
            return .init(
                message: "Removed \(id): \(untagged) tag(s) untagged, \(deleted) layer(s) deleted.",
                results: ["untagged": String(untagged), "deleted": String(deleted)]
            )
        }
    }

    /// `GET /images/prune`: what a prune would remove — dangling images no container uses — and the space it frees.
    @Sendable func prunePreview(_ request: Request, context: SignedInContext) async throws -> Response {
        do {
            async let dangling = engine.listDanglingImages()
            async let containers = engine.listContainers(all: true)
            let used = Set(try await containers.compactMap(\.imageID))
            let going = try await dangling.filter { !used.contains($0.id) }
            return try views.page("images-prune", PrunePreviewPage(images: going), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no images list.")
        }
    }

    /// `POST /images/prune`.
    @Sendable func prune(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = self.engine
        return await audit.perform(context: context, targetType: "image", back: "/images") { () async throws -> AuditTrail.ActionDone in
            let result = try await engine.pruneDanglingImages()
            let deleted = (result.imagesDeleted ?? []).compactMap(\.deleted).count
            let space = ByteCountFormatter.string(fromByteCount: result.spaceReclaimed ?? 0, countStyle: .binary)
            return .init(
                message: "Pruned: \(deleted) layer(s) deleted, \(space) freed.",
                results: ["deleted": String(deleted), "spaceReclaimed": String(result.spaceReclaimed ?? 0)]
            )
        }
    }

    /// `GET /images[?reference=…]`: every tagged image (and dangling ones), with how many containers use each; the
    /// pull form, filled in when a page sent the user here to pull a missing image.
    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let suggested = request.uri.queryParameters["reference"].map { String($0.prefix(512)) } ?? ""
        do {
            async let images = engine.listImages()
            async let containers = engine.listContainers(all: true)
            let page = ImageListPage(images: try await images, containers: try await containers, reference: suggested)
            return try views.page("images", page, context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no images list.")
        }
    }

    @Sendable func show(_ request: Request, context: SignedInContext) async throws -> Response {
        let id = try Self.imageParameter(context)
        do {
            let image = try await engine.inspectImage(id)
            // The history is a nicety: an engine that can't give it still shows the page.
            let history = (try? await engine.imageHistory(image.id)) ?? []
            return try views.page("image", ImagePage(image, history: history, preferences: context.preferences), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such image: \(id).")
        }
    }

    /// `POST /images/pull` (reference, and optionally username and password): checks the form, then leaves the pull
    /// for the progress page's stream to start. The password lives in memory until that stream takes it.
    @Sendable func startPull(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let form = context.form
        let typed = form["reference"] ?? ""
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: typed)
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "image", targetName: String(typed.prefix(256)), message: error.description, back: "/images"
            )
        }
        let username = (form["username"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = form["password"] ?? ""
        var credentials: RegistryCredentials?
        if !username.isEmpty || !password.isEmpty {
            guard !username.isEmpty, !password.isEmpty else {
                return .redirect(to: "/images", flash: Flash(.error, "Give both a username and a password, or neither."))
            }
            credentials = RegistryCredentials(username: username, password: password, serverAddress: reference.registry ?? "docker.io")
        }
        let ticket = tickets.issue(reference, credentials: credentials, sessionKey: user.sessionKey)
        return Response(status: .seeOther, headers: [.location: "/images/pull/\(ticket)", .cacheControl: "no-store"])
    }

    /// The progress page; its script opens the stream that runs the pull.
    @Sendable func pullPage(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let ticket = try context.parameters.require("ticket")
        guard let reference = tickets.waitingReference(ticket, sessionKey: user.sessionKey) else {
            return .redirect(to: "/images", flash: Flash(.error, "That pull has already run or expired; start it again here."))
        }
        return try views.page("image-pull", PullPage(stream: "/images/pull/\(ticket)/stream", reference: reference.description), context: context)
    }

    /// `GET /images/pull/{ticket}/stream`: runs the pull and streams its progress, folded per layer, at most ten
    /// updates a second; ends with the digest or the registry's message, and one audit record either way.
    @Sendable func pullStream(_ request: Request, context: SignedInContext) async throws -> Response {
        let user = context.user
        let id = try context.parameters.require("ticket")
        guard let ticket = tickets.take(id, sessionKey: user.sessionKey) else {
            return streamer.response(for: user, render: Self.render, produce: { mailbox in
                _ = await mailbox.send(.failed("This pull has already run or expired; start it again from Images."))
            })
        }
        let engine = self.engine
        let audit = self.audit
        return streamer.response(for: user, capacity: 64, render: Self.render, produce: { mailbox in
            let reference = ticket.reference
            let parameters = [
                "reference": reference.description, "registry": reference.registry ?? "docker.io",
                "registryLogin": ticket.credentials == nil ? "none" : "given",
            ]
            // The row is written even when the page went away (the stream's task is cancelled then).
            let result = try? await audit.act(
                context: context, targetType: "image", targetName: reference.description, parameters: parameters
            ) { record -> (PullProgress, String?) in
                var progress = PullProgress()
                var failure: String?
                do {
                    let lines = try await engine.pullImage(ticket.reference, credentials: ticket.credentials)
                    var lastSent = ContinuousClock.now - .seconds(1)
                    for try await line in lines {
                        guard progress.apply(line) else { continue }
                        if progress.error != nil { break }
                        if ContinuousClock.now - lastSent >= .milliseconds(100) {
                            guard await mailbox.send(.progress(progress.snapshot)) else { break }
                            lastSent = ContinuousClock.now
                        }
                    }
                    failure = progress.error
                    if failure == nil, Task.isCancelled { failure = "The pull was cancelled: its page was closed." }
                } catch let error as EngineError {
                    failure = error.description
                } catch {
                    failure = Task.isCancelled ? "The pull was cancelled: its page was closed." : "The pull was cut short: \(error)"
                }
                record.targetId = progress.digest
                if let digest = progress.digest { record.add(["digest": digest]) }
                if let failure { record.fail(failure) }
                return (progress, failure)
            }
            guard case .done((let progress, var failure), let written)? = result else {
                _ = await mailbox.send(.failed(AuditTrail.unavailableMessage))
                return
            }
            if failure == nil, !written { failure = AuditTrail.unrecordedOutcome("The image was pulled.") }
            _ = await mailbox.send(.progress(progress.snapshot))
            if let failure {
                _ = await mailbox.send(.failed(failure))
            } else {
                _ = await mailbox.send(.done(PullDone(reference: reference.description, digest: progress.digest)))
            }
        })
    }

    enum PullMessage: Sendable {
        case progress(PullProgress.Snapshot)
        case done(PullDone)
        case failed(String)
    }

    struct PullDone: Encodable, Sendable {
        let reference: String
        let digest: String?
    }

    @Sendable static func render(_ message: PullMessage) -> ServerSentEvent? {
        switch message {
        case .progress(let snapshot): return ServerSentEvent(event: "progress", encoding: snapshot)
        case .done(let done):
            var event = ServerSentEvent(event: "done", encoding: done)
            event.endsStream = true
            return event
        case .failed(let message):
            var event = ServerSentEvent(event: "failed", encoding: ["message": message])
            event.endsStream = true
            return event
        }
    }
}
