import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// Image updates: "check now", and "pull and recreate" a container from its tag's newest image.
struct UpdatesController: Sendable {
    let checker: UpdateChecker
    let jobs: JobBoard
    let logins: RegistryLogins
    let audit: AuditTrail

    func addRoutes(to routes: Routes) {
        // The scheduled checks and their findings are `local`'s.
        routes.on(.local).post("/images/updates/check", .operateContainers, audit: .imageUpdateCheck, use: checkNow)
        routes.on(.named).post("/containers/{id}/recreate", .administer, audit: .containerRecreate, use: recreate)
    }

    /// `POST /images/updates/check`: a check of every tag running containers use, as a job; the person's own saved
    /// logins (else shared ones) answer registries that want one.
    @Sendable func checkNow(_ request: Request, context: SignedInContext) async throws -> Response {
        await checker.checkNow(context: context, user: context.user.username).answer(back: "/containers")
    }

    /// `POST /containers/{id}/recreate` (admins): pulls the tag the container was started with and, when that brings
    /// another image, makes the container anew from it with the same configuration (name, environment, labels,
    /// mounts, restart policy, networks), as a job. Anything failing after the old container was stopped puts it back.
    @Sendable func recreate(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let page = context.link("/containers/\(EngineClientPath.escape(id))")
        let inspect: ContainerInspect
        do {
            inspect = try await engine.inspectContainer(id)
        } catch {
            let engineError = error as? EngineError
            return await audit.refuseInput(
                context: context, targetType: "container", targetId: id,
                message: engineError.map { ContainerActionsController.describe($0, name: id) } ?? AuditTrail.message(for: error),
                back: engineError?.kind == .notFound ? context.link("/containers") : page
            )
        }
        let typed = inspect.config?.image ?? ""
        guard !typed.hasPrefix("sha256:"), !typed.contains("@"), let reference = try? ImageReference(parsing: typed) else {
            return await audit.refuseInput(
                context: context, targetType: "container", targetId: inspect.id, targetName: inspect.displayName,
                message: "\(inspect.displayName) was started from “\(typed)”, not a tag: there is nothing newer to pull.", back: page
            )
        }
        guard inspect.hostConfig?.autoRemove != true else {
            return await audit.refuseInput(
                context: context, targetType: "container", targetId: inspect.id, targetName: inspect.displayName,
                message: "\(inspect.displayName) removes itself when it stops (--rm): it can't be recreated in place. Run it again from the new image instead.",
                back: page
            )
        }
        let parameters = ["reference": reference.description, "image": inspect.image ?? ""]
        let credentials: RegistryCredentials?
        do {
            credentials = try await logins.use(
                for: RegistryLogins.registry(of: reference), by: context.user.username, audit: audit, context: context, reference: reference.description
            )?.credentials
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "container", targetId: inspect.id, targetName: inspect.displayName, parameters: parameters,
                message: error.message, back: page
            )
        }
        let started = await jobs.start(
            .containerRecreate, title: "Pull and recreate \(inspect.displayName)", context: context, owner: context.user.username,
            targetType: "container", targetName: inspect.displayName, parameters: parameters,
            work: Self.recreateWork(container: inspect.id, name: inspect.displayName, reference: reference, credentials: credentials, engine: engine)
        )
        return started.answer(back: page)
    }

    static func recreateWork(
        container: String, name: String, reference: ImageReference, credentials: RegistryCredentials?, engine: EngineClient
    ) -> JobBoard.Work {
        { job, record in
            record.targetId = container
            let before = try await engine.inspectContainer(container)
            let oldImage = before.image ?? ""
            job.log("Pulling \(reference.description)…")
            let progress = try await ImagesController.pullImage(reference, credentials: credentials, engine: engine, job: job)
            let pulled = try await engine.inspectImage(reference.description)
            let oldDigest = ((try? await engine.inspectImage(oldImage))?.repoDigests ?? []).first.flatMap { $0.split(separator: "@").last }
            record.add(["oldImage": oldImage, "newImage": pulled.id, "oldDigest": oldDigest.map(String.init) ?? "", "newDigest": progress.digest ?? ""])
            let change = "image \(Self.short(oldImage)) → \(Self.short(pulled.id))"
                + (oldDigest.map { ", registry digest \(Self.short(String($0))) → \(Self.short(progress.digest ?? ""))" } ?? "")
            guard pulled.id != oldImage else {
                job.log("\(name) already runs the newest image of \(reference.description).")
                return "\(name) already runs the newest image of \(reference.description) (\(Self.short(oldImage))): nothing recreated."
            }
            job.log("New image: \(change).")
            try Task.checkCancellation()
            try await replace(container, name: name, image: reference.description, engine: engine, job: job)
            return "Recreated \(name) from \(reference.description): \(change)."
        }
    }

    /// Makes the container anew from `image` with its configuration (`EngineClient.recreatePlan`), in its place.
    static func replace(_ id: String, name: String, image: String, engine: EngineClient, job: Job) async throws {
        let plan = try await engine.recreatePlan(for: id, image: image)
        try await ContainerReplacement(engine: engine, log: job.log).replace(
            id, name: plan.name, wasRunning: plan.wasRunning,
            with: .init(name: plan.name, body: plan.body, moreNetworks: plan.moreNetworks, start: plan.wasRunning)
        )
    }

    static func short(_ id: String) -> String {
        let hex = id.hasPrefix("sha256:") ? id.dropFirst(7) : Substring(id)
        return hex.isEmpty ? "?" : String(hex.prefix(12))
    }
}
