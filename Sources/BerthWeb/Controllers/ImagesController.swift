import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// Images: the list, one image's page, tag, remove, prune, and pulls (as jobs, `JobBoard`).
struct ImagesController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer
    let jobs: JobBoard
    let logins: RegistryLogins

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/images", .viewContainers, use: list)
        // Before /images/{id}: "pull" is a page, not an image.
        routes.post("/images/pull", .operateContainers, audit: .imagePull, use: startPull)
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
        let engine = try context.engine.client
        let id = try Self.imageParameter(context)
        let form = context.form
        let page = context.link("/images/\(EngineClientPath.escape(id))")
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
        return await audit.perform(
            context: context, targetType: "image", targetId: id, targetName: wanted.description,
            parameters: ["repository": wanted.repository, "tag": wanted.tag ?? "latest"], back: page,
            backOnFailure: { $0.kind == .notFound ? context.link("/images") : page }
        ) {
            try await engine.tagImage(id, repository: wanted.repository, tag: wanted.tag ?? "latest")
            return "Tagged as \(wanted.description)."
        }
    }

    /// `POST /images/{id}/remove` (force, noprune): the daemon's own message when a container still uses it.
    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try Self.imageParameter(context)
        let form = context.form
        let force = form.isChecked("force")
        let noprune = form.isChecked("noprune")
        let page = context.link("/images/\(EngineClientPath.escape(id))")
        return await audit.perform(
            context: context, targetType: "image", targetId: id,
            parameters: ["force": force ? "1" : "0", "noprune": noprune ? "1" : "0"], back: context.link("/images"),
            backOnFailure: { $0.kind == .notFound ? context.link("/images") : page }
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
        let engine = try context.engine.client
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

    /// `POST /images/prune`: as a job (a prune of many layers takes a while).
    @Sendable func prune(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let started = await jobs.start(
            .imagePrune, title: "Prune dangling images", context: context, owner: context.user.username, targetType: "image",
            targetName: nil, parameters: [:]
        ) { job, record in
            job.report(summary: "The engine removes the dangling images no container uses…")
            let result = try await engine.pruneDanglingImages()
            for item in result.imagesDeleted ?? [] {
                if let deleted = item.deleted { job.log("deleted \(deleted)") }
                if let untagged = item.untagged { job.log("untagged \(untagged)") }
            }
            let deleted = (result.imagesDeleted ?? []).compactMap(\.deleted).count
            let space = ByteCountFormatter.string(fromByteCount: result.spaceReclaimed ?? 0, countStyle: .binary)
            record.add(["deleted": String(deleted), "spaceReclaimed": String(result.spaceReclaimed ?? 0)])
            job.report(summary: "\(deleted) layer(s) deleted, \(space) freed")
            return "Pruned: \(deleted) layer(s) deleted, \(space) freed."
        }
        return started.answer(back: context.link("/images"))
    }

    /// `GET /images[?reference=…]`: every tagged image (and dangling ones), with how many containers use each; the
    /// pull form, filled in when a page sent the user here to pull a missing image.
    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
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
        let engine = try context.engine.client
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

    /// `POST /images/pull` (reference, and optionally username and password): checks the form and starts the pull as
    /// a job, whose page it opens. The password lives in the job's memory until it ends: never stored, logged or put
    /// in a URL.
    @Sendable func startPull(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let form = context.form
        let typed = form["reference"] ?? ""
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: typed)
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "image", targetName: String(typed.prefix(256)), message: error.description, back: context.link("/images")
            )
        }
        let username = (form["username"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = form["password"] ?? ""
        var credentials: RegistryCredentials?
        if !username.isEmpty || !password.isEmpty {
            guard !username.isEmpty, !password.isEmpty else {
                return .redirect(to: context.link("/images"), flash: Flash(.error, "Give both a username and a password, or neither."))
            }
            credentials = RegistryCredentials(username: username, password: password, serverAddress: reference.registry ?? "docker.io")
        }
        let registry = RegistryLogins.registry(of: reference)
        var parameters = ["reference": reference.description, "registry": registry, "registryLogin": credentials == nil ? "none" : "given"]
        // Nothing typed: the login saved for the registry, the person's own before a shared one. Opened here, held in
        // the job's memory like a typed one; its use is on record before the pull starts.
        if credentials == nil {
            do {
                if let saved = try await logins.use(for: registry, by: context.user.username, audit: audit, context: context, reference: reference.description) {
                    credentials = saved.credentials
                    parameters["registryLogin"] = "saved #\(saved.login.id ?? 0)"
                }
            } catch {
                return await audit.refuseInput(
                    context: context, targetType: "image", targetName: reference.description, parameters: parameters,
                    message: error.message, back: context.link("/images")
                )
            }
        }
        let started = await jobs.start(
            .imagePull, title: "Pull \(reference.description)", context: context, owner: context.user.username, targetType: "image",
            targetName: reference.description, parameters: parameters,
            work: Self.pull(reference, credentials: credentials, engine: engine)
        )
        return started.answer(back: context.link("/images"))
    }

    /// A pull's work: ends with the digest, or fails with the registry's message.
    static func pull(_ reference: ImageReference, credentials: RegistryCredentials?, engine: EngineClient) -> JobBoard.Work {
        { job, record in
            var digest: String?
            defer {
                record.targetId = digest
                if let digest { record.add(["digest": digest]) }
            }
            digest = try await pullImage(reference, credentials: credentials, engine: engine, job: job).digest
            return "Pulled \(reference.description)" + (digest.map { " (\($0))" } ?? "") + "."
        }
    }

    /// Pulls `reference`, its progress folded per layer and told to the job at most ten times a second; returns it at
    /// the end, or throws the registry's message.
    static func pullImage(
        _ reference: ImageReference, credentials: RegistryCredentials?, engine: EngineClient, job: Job
    ) async throws -> PullProgress {
        var progress = PullProgress()
        var logged = 0
        func tell() {
            for note in progress.notes.suffix(progress.notesSeen - logged) { job.log(note) }
            logged = progress.notesSeen
            let (current, total) = progress.bytes
            let summary = progress.layers.isEmpty ? "Asking the registry…" : "\(progress.layersDone) of \(progress.layers.count) layers done"
                + (total > 0 ? ", \(JobPage.progress(current: current, total: total))" : "")
            job.report(summary: summary, current: current, total: total, items: progress.layers)
        }
        job.report(summary: "Asking the registry…")
        let lines = try await engine.pullImage(reference, credentials: credentials)
        var lastTold = ContinuousClock.now - .seconds(1)
        for try await line in lines {
            guard progress.apply(line) else { continue }
            if progress.error != nil { break }
            if ContinuousClock.now - lastTold >= .milliseconds(100) {
                tell()
                lastTold = ContinuousClock.now
            }
        }
        tell()
        try Task.checkCancellation()
        if let failure = progress.error { throw AuditTrail.ActionFailure(failure) }
        return progress
    }
}
