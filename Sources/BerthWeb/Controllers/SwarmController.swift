import BerthStore
import Compose
import EngineAPI
import Foundation
import Hummingbird

/// Swarm nodes and services, shown when the engine is a swarm manager. Operators scale services; admins change a
/// node's availability. Viewers read, service logs included.
struct SwarmController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer
    let streamer: EventStreamer

    static let availabilities = ["active", "pause", "drain"]
    static let maxReplicas = 1000

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/swarm", .viewContainers, use: overview)
        routes.post("/swarm/nodes/{id}/availability", .administer, audit: .nodeAvailability, use: setAvailability)
        routes.post("/swarm/services/create", .administer, audit: .serviceCreate, use: createService)
        routes.get("/swarm/services/{id}", .viewContainers, use: service)
        routes.post("/swarm/services/{id}/remove", .administer, audit: .serviceRemove, use: removeService)
        routes.post("/swarm/services/{id}/scale", .operateContainers, audit: .serviceScale, use: scale)
        routes.get("/swarm/services/{id}/logs", .viewContainers, use: logsPage)
        routes.get("/swarm/services/{id}/logs/stream", .viewContainers, audit: .serviceLogs, use: logsStream)
    }

    @Sendable func overview(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        do {
            guard try await engine.info().isSwarmManager else {
                return try views.page("swarm", SwarmPage(nodes: [], services: [], tasks: [], manager: false), context: context)
            }
            async let nodes = engine.listNodes()
            async let services = engine.listServices()
            let allServices = try await services
            var tasks: [SwarmTask] = []
            for service in allServices { tasks += (try? await engine.listTasks(service: service.id)) ?? [] }
            return try views.page(
                "swarm", SwarmPage(nodes: try await nodes, services: allServices, tasks: tasks, manager: true), context: context
            )
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no swarm.")
        }
    }

    @Sendable func service(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        do {
            let service = try await engine.inspectService(id)
            let tasks = try await engine.listTasks(service: service.id)
            return try views.page("service", ServicePage(service, tasks: tasks), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such service: \(id).")
        }
    }

    /// `POST /swarm/services/create` (name, image, command as one line, replicas): a replicated service, the spec
    /// built from these fields only.
    @Sendable func createService(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let form = context.form
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let image = (form["image"] ?? "").trimmingCharacters(in: .whitespaces)
        let replicasText = (form["replicas"] ?? "1").trimmingCharacters(in: .whitespaces)
        let parameters = ["image": String(image.prefix(256)), "replicas": String(replicasText.prefix(20))]
        func refuse(_ message: String) async -> Response {
            await audit.refuseInput(
                context: context, targetType: "service", targetName: String(name.prefix(128)), parameters: parameters,
                message: message, back: context.link("/swarm")
            )
        }
        guard NameRules.isValidObjectName(name) else {
            return await refuse("A service name starts with a letter or digit and has only letters, digits, _ . - (at most 128).")
        }
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: image)
        } catch {
            return await refuse(error.description)
        }
        guard let replicas = Int(replicasText), (0...Self.maxReplicas).contains(replicas) else {
            return await refuse("Replicas must be a whole number from 0 to \(Self.maxReplicas).")
        }
        let command: [String]
        do {
            command = try CommandLineSplitter.split(form["command"] ?? "")
        } catch {
            return await refuse(error.message)
        }
        let body = ServiceCreateRequest(name: name, image: reference.description, command: command, replicas: replicas)
        return await audit.perform(
            context: context, targetType: "service", targetName: name, parameters: parameters, back: context.link("/swarm")
        ) {
            _ = try await engine.createService(body)
            return "Created service \(name) with \(replicas) replica(s)."
        }
    }

    @Sendable func removeService(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        return await audit.perform(
            context: context, targetType: "service", targetId: id, back: context.link("/swarm"),
            backOnFailure: { $0.kind == .notFound ? context.link("/swarm") : context.link("/swarm/services/\(EngineClientPath.escape(id))") }
        ) {
            try await engine.removeService(id)
            return "Removed service \(id)."
        }
    }

    /// `POST /swarm/services/{id}/scale` (replicas).
    @Sendable func scale(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let text = (context.form["replicas"] ?? "").trimmingCharacters(in: .whitespaces)
        let page = context.link("/swarm/services/\(EngineClientPath.escape(id))")
        guard let replicas = Int(text), (0...Self.maxReplicas).contains(replicas) else {
            return await audit.refuseInput(
                context: context, targetType: "service", targetName: id, parameters: ["replicas": String(text.prefix(20))],
                message: "Replicas must be a whole number from 0 to \(Self.maxReplicas).", back: page
            )
        }
        return await audit.perform(
            context: context, targetType: "service", targetId: id, parameters: ["replicas": String(replicas)], back: page,
            backOnFailure: { $0.kind == .notFound ? context.link("/swarm") : page }
        ) {
            try await engine.scaleService(id, replicas: replicas)
            return "Scaled to \(replicas) replica(s); the swarm is starting or stopping tasks."
        }
    }

    /// `POST /swarm/nodes/{id}/availability` (availability = active, pause or drain).
    @Sendable func setAvailability(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let availability = context.form["availability"] ?? ""
        guard Self.availabilities.contains(availability) else {
            return await audit.refuseInput(
                context: context, targetType: "node", targetName: id,
                parameters: ["availability": String(availability.prefix(20))], message: "Availability is active, pause or drain.", back: context.link("/swarm")
            )
        }
        return await audit.perform(
            context: context, targetType: "node", targetId: id, parameters: ["availability": availability],
            back: context.link("/swarm")
        ) {
            try await engine.setNodeAvailability(id, to: availability)
            return "Node set to \(availability)."
        }
    }

    /// The log viewer, fed by the service's stream.
    @Sendable func logsPage(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let service: SwarmService
        do {
            service = try await engine.inspectService(id)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such service: \(id).")
        }
        let name = service.spec?.name ?? service.id
        let tail = context.preferences.logTailLines.map { min($0, LogsController.maxTail) }
        var page = LogsPage(
            title: "Logs of service \(name)",
            containers: [.init(id: service.id, name: name)], tail: tail, single: nil, preferences: context.preferences
        )
        page.streamPath = context.link("/swarm/services/\(service.id)/logs/stream")
        return try views.page("logs", page, context: context)
    }

    /// `GET /swarm/services/{id}/logs/stream?tail=N`: every task's output, each line tagged with the service.
    @Sendable func logsStream(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let service: SwarmService
        do {
            service = try await engine.inspectService(id)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such service: \(id).")
        }
        let text = request.uri.queryParameters["tail"].map(String.init) ?? ""
        let tail: Int? = text == "all" ? nil : min(Int(text).map { max($0, 0) } ?? LogsController.defaultTail, LogsController.maxTail)
        try await audit.recordBeforeShowing(
            context: context, targetType: "service", targetId: service.id, targetName: service.spec?.name,
            parameters: ["tail": tail.map(String.init) ?? "all", "stream": "1"]
        )
        let renderer = LogStreamRenderer(cursor: LogCursor(lastEventID: nil), containers: 1)
        return streamer.response(for: context, weight: LogStreamMessage.weight, gather: LogStreamRenderer.gather, render: renderer.render, produce: { mailbox in
            var options = LogOptions(timestamps: true, follow: true)
            options.tail = tail
            do {
                let logs = try await engine.serviceLogs(service.id, options: options)
                var assembler = LogLineAssembler(timestamps: true)
                for try await frames in logs.batches {
                    var lines = LogBatch()
                    for frame in frames { assembler.feed(frame, into: &lines) }
                    if !lines.isEmpty { guard await mailbox.send(.lines(container: service.id, lines), merge: LogStreamMessage.merge) else { return } }
                }
                _ = await mailbox.send(.ended(container: service.id, reason: "The service's log ended (the service was removed)."))
            } catch {
                _ = await mailbox.send(.ended(container: service.id, reason: (error as? EngineError)?.description ?? "\(error)"))
            }
            _ = await mailbox.send(.finished)
        })
    }
}
