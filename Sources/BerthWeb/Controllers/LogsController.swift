import BerthStore
import EngineAPI
import Compose
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Container logs: the live viewer page, its event stream (one container or several merged), and the download.
struct LogsController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer
    let streamer: EventStreamer

    static let defaultTail = 500
    static let maxTail = 100_000
    /// Containers one merged stream may follow.
    static let maxContainers = 20

    func addRoutes(to routes: Routes) {
        // Projects are `local`'s.
        routes.on(.local).get("/projects/{name}/logs", .viewContainers, use: projectPage)
        let routes = routes.on(.named)
        routes.get("/containers/{id}/logs", .viewContainers, use: page)
        routes.get("/logs", .viewContainers, use: mergedPage)
        routes.get("/logs/stream", .viewContainers, audit: .containerLogs, use: stream)
        routes.get("/containers/{id}/logs/download", .viewContainers, audit: .containerLogsDownload, use: download)
    }

    /// The viewer of one container; the page's script opens the stream.
    @Sendable func page(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let inspect = try await engine.inspectContainerForPage(id)
        var page = LogsPage(
            title: "Logs of \(inspect.displayName)", containers: [.init(inspect)], tail: tail(request, context), single: .init(inspect),
            preferences: context.preferences
        )
        page.streamPath = context.link("/logs/stream")
        return try views.page("logs", page, context: context)
    }

    /// `/logs?container=a&container=b`: several containers' logs merged, each line tagged with its container.
    @Sendable func mergedPage(_ request: Request, context: SignedInContext) async throws -> Response {
        let ids = requestedContainers(request)
        guard !ids.isEmpty else { throw HTTPError(.badRequest, message: "Choose at least one container.") }
        return try await merged(ids, request: request, context: context)
    }

    /// `/projects/{name}/logs`: the merged logs of a compose project's containers (as they are when the page opens;
    /// not the one-offs of `compose run`).
    @Sendable func projectPage(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let name = try context.parameters.require("name")
        guard ComposeLabel.isValidProjectName(name) else { throw HTTPError(.notFound, message: "No such project.") }
        let containers: [ContainerSummary]
        do {
            containers = try await engine.projectContainers(name)
        } catch let error as EngineError {
            throw error.pageError(missing: "The engine has no container list.")
        }
        let ids = containers.filter { $0.labels?[ComposeLabel.oneoff]?.lowercased() != "true" }
            .sorted { ($0.labels?[ComposeLabel.service] ?? "", $0.id) < ($1.labels?[ComposeLabel.service] ?? "", $1.id) }
            .map(\.id).prefix(Self.maxContainers)
        guard !ids.isEmpty else { throw HTTPError(.notFound, message: "Nothing of \(name) is on this engine.") }
        return try await merged(Array(ids), request: request, context: context, project: name)
    }

    /// The merged viewer of `ids`, each line tagged with its container.
    private func merged(_ ids: [String], request: Request, context: SignedInContext, project: String? = nil) async throws -> Response {
        let engine = try context.engine.client
        var containers: [LogsPage.Container] = []
        for id in ids {
            do {
                containers.append(.init(try await engine.inspectContainerForPage(id)))
            } catch let error as HTTPError where project != nil && error.status == .notFound {
                continue  // Removed since the project's list was read (a deploy under way).
            }
        }
        guard !containers.isEmpty else { throw HTTPError(.notFound, message: "None of these containers is on this engine now.") }
        let title = project.map { "Logs of \($0)" }
            ?? (containers.count == 1 ? "Logs of \(containers[0].name)" : "Logs of \(containers.count) containers")
        var page = LogsPage(
            title: title, containers: containers, tail: tail(request, context), single: containers.count == 1 ? containers[0] : nil,
            preferences: context.preferences
        )
        page.project = project
        page.streamPath = context.link("/logs/stream")
        return try views.page("logs", page, context: context)
    }

    /// `GET /logs/stream?container=…[&container=…][&tail=N]`: server-sent events, resumed from `Last-Event-ID`.
    @Sendable func stream(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let ids = requestedContainers(request)
        guard !ids.isEmpty else { throw HTTPError(.badRequest, message: "Name at least one container.") }
        // Past a cap: refused before any inspect or audit row (the row would say logs were streamed).
        if let refusal = streamer.refusal(for: streamer.owner(of: context)) { return refusal }
        let cursor = LogCursor(lastEventID: request.lastEventID)
        let tail = self.tail(request, context)
        var followersFound: [LogFollower] = []
        var unavailableFound: [(String, String)] = []
        for id in ids {
            let inspect = try await engine.inspectContainerForPage(id)
            try await audit.recordBeforeShowing(
                context: context, targetType: "container", targetId: inspect.id,
                targetName: inspect.displayName, parameters: ["tail": tail.map(String.init) ?? "all", "stream": "1"]
            )
            if inspect.hostConfig?.logConfig?.type == "none" {
                unavailableFound.append((inspect.id, "This container logs with the driver \"none\": the engine keeps no logs for it."))
                continue
            }
            followersFound.append(LogFollower(
                engine: engine, tails: try context.engine.tails, container: inspect.id, tty: inspect.config?.tty ?? false, tail: tail,
                resumeAfter: cursor.position(of: inspect.id), running: inspect.state?.running ?? false
            ))
        }
        let renderer = LogStreamRenderer(cursor: cursor, containers: ids.count)
        let (followers, unavailable) = (followersFound, unavailableFound)
        let resync = cursor.wasUnusable ? followersFound.first?.container : nil
        return streamer.response(for: context, weight: LogStreamMessage.weight, gather: LogStreamRenderer.gather, render: renderer.render, produce: { mailbox in
            if let resync {
                let notice = "The page's last position can't be used (it lies in the future or is not one Berth wrote); showing the latest lines."
                guard await mailbox.send(.status(container: resync, state: "resync", message: notice)) else { return }
            }
            for (id, reason) in unavailable {
                guard await mailbox.send(.ended(container: id, reason: reason)) else { return }
            }
            await withTaskGroup(of: Void.self) { group in
                for follower in followers {
                    let follower = follower.sending(into: mailbox) { await mailbox.send($0, merge: LogStreamMessage.merge) }
                    group.addTask { await follower.run() }
                }
            }
            _ = await mailbox.send(.finished)
        })
    }

    /// `GET /containers/{id}/logs/download`: the whole log as a text file, streamed from the engine as it is read.
    @Sendable func download(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let timestamps = request.uri.queryParameters["timestamps"] == "1"
        let inspect = try await engine.inspectContainerForPage(id)
        let logs: ContainerLogs
        do {
            logs = try await engine.containerLogs(inspect.id, options: LogOptions(timestamps: timestamps), tty: inspect.config?.tty ?? false)
        } catch let error as EngineError {
            await audit.record(
                outcome: .error, context: context, targetType: "container", targetId: inspect.id,
                targetName: inspect.displayName, error: error.description
            )
            throw error.pageError(missing: EngineError.missingContainer(id))
        }
        try await audit.recordBeforeShowing(
            context: context, targetType: "container", targetId: inspect.id,
            targetName: inspect.displayName, parameters: ["timestamps": timestamps ? "1" : "0"]
        )
        let fileName = Self.safeFileName(inspect.displayName) + "-logs.txt"
        let headers: HTTPFields = [
            .contentType: "text/plain; charset=utf-8",
            .contentDisposition: "attachment; filename=\"\(fileName)\"",
            .cacheControl: "no-store",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // Frames go out as they come: stderr and stdout interleaved as the container wrote them, nothing buffered whole.
            do {
                for try await frame in logs {
                    try await writer.write(frame.payload)
                }
            } catch {
                try? await writer.write(ByteBuffer(string: "\n[Berth: the log was cut short: \(error)]\n"))
            }
            try await writer.finish(nil)
        })
    }

    private func requestedContainers(_ request: Request) -> [String] {
        var seen = Set<String>()
        var ids: [String] = []
        for value in request.uri.queryParameters.getAll("container") where !value.isEmpty && seen.insert(value).inserted {
            ids.append(value)
        }
        return Array(ids.prefix(Self.maxContainers))
    }

    /// Lines to show first: `tail=N`, or `tail=all` for the whole log (nil); without it, the user's setting.
    private func tail(_ request: Request, _ context: SignedInContext) -> Int? {
        guard let text = request.uri.queryParameters["tail"].map(String.init), !text.isEmpty else {
            return context.preferences.logTailLines.map { min($0, Self.maxTail) }
        }
        if text == "all" { return nil }
        return min(Int(text).map { max($0, 0) } ?? Self.defaultTail, Self.maxTail)
    }

    /// A container name made safe for `Content-Disposition`.
    static func safeFileName(_ name: String) -> String {
        let kept = name.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }
        let text = String(String.UnicodeScalarView(kept)).prefix(64)
        return text.isEmpty ? "container" : String(text)
    }
}
