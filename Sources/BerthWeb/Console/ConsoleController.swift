import BerthStore
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// A console into a running container: the page with the terminal, and the WebSocket that joins it to a process
/// started with `docker exec`. Every console is audited when it opens and when it closes, and recorded.
struct ConsoleController: Sendable {
    let audit: AuditTrail
    let views: PageRenderer
    let sessions: SessionManager
    let database: AppDatabase
    let settings: ConsoleSettings
    let library: TerminalLibrary
    let registry: ConsoleRegistry

    init(
        audit: AuditTrail, views: PageRenderer, sessions: SessionManager, database: AppDatabase, settings: ConsoleSettings
    ) {
        self.audit = audit
        self.views = views
        self.sessions = sessions
        self.database = database
        self.settings = settings
        library = TerminalLibrary(settings: settings)
        registry = ConsoleRegistry(perUser: settings.perUser, total: settings.total)
    }

    /// The subprotocol the server answers with (the page also offers its CSRF token as one).
    static let subprotocol = "berth.console"
    /// The shells tried, in order, when the page names no command.
    static let shells = ["/bin/bash", "/bin/sh"]

    func addRoutes(to routes: Routes) {
        routes.on(.named).get("/containers/{id}/console", .exec, audit: .consoleOpen, use: page)
        routes.on(.named).webSocket(
            "/containers/{id}/console/socket", .exec, audit: .consoleOpen, shouldUpgrade: shouldUpgrade, onUpgrade: connected
        )
        // Recordings: admins see all, others their own (the handlers narrow it).
        routes.get("/consoles/{id}", .viewAudit, audit: .consoleReplay, use: replayPage)
        routes.get("/consoles/{id}/cast", .viewAudit, audit: .consoleReplay, use: cast)
        routes.get("/javascript/xterm.js", .signedIn, use: script)
        routes.get("/javascript/xterm.css", .signedIn, use: stylesheet)
    }

    /// The console page: the terminal, and the command, user and folder to start it with.
    @Sendable func page(_ request: Request, context: SignedInContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let inspect = try await context.engine.client.inspectContainerForPage(id)
        let query = request.uri.queryParameters
        return try views.page("console", ConsolePage(
            id: inspect.id, name: inspect.displayName, running: inspect.state?.running ?? false,
            command: query.get("command") ?? "", user: query.get("user") ?? "", workdir: query.get("workdir") ?? "",
            unavailable: library.isInstalled ? nil : TerminalLibrary.missingMessage
        ), context: context)
    }

    /// The replay page: what the recording is, and a player that reads it from `cast`.
    @Sendable func replayPage(_ request: Request, context: SignedInContext) async throws -> Response {
        let recording = try await readableRecording(context)
        return try views.page("console-replay", ConsoleReplayPage(recording, preferences: context.preferences), context: context)
    }

    /// `GET /consoles/{id}/cast[?download=1]`: the asciicast text, for the player or as a `.cast` file. Every read is
    /// on record before anything is sent.
    @Sendable func cast(_ request: Request, context: SignedInContext) async throws -> Response {
        let recording = try await readableRecording(context)
        let id = recording.id ?? 0
        let download = request.uri.queryParameters.get("download") == "1"
        try await audit.recordBeforeShowing(
            .consoleReplay, context: context, targetType: "recording", targetId: String(id),
            targetName: "\(recording.actor) in \(recording.containerName)", parameters: ["as": download ? "download" : "player"]
        )
        let text = try await database.consoleRecordingText(id: id)
        var headers: HTTPFields = [.contentType: "application/x-asciicast", .cacheControl: "no-store"]
        if download { headers[.contentDisposition] = "attachment; filename=\"berth-console-\(id).cast\"" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// The recording the route names, if this user may read it: admins any, others their own. Others' recordings are
    /// answered as missing (nothing tells whether one exists), and the attempt is on record.
    private func readableRecording(_ context: SignedInContext) async throws -> ConsoleRecording {
        let name = context.parameters.get("id") ?? ""
        let missing = HTTPError(.notFound, message: "No such console recording: \(name).")
        guard let id = Int64(name), let recording = try await database.consoleRecording(id: id) else { throw missing }
        guard context.isAdmin || recording.actor == context.user.username else {
            await audit.record(
                .consoleReplay, outcome: .denied, context: context, targetType: "recording", targetId: name,
                error: "someone else's console recording"
            )
            throw missing
        }
        return recording
    }

    @Sendable func script(_ request: Request, context: SignedInContext) async throws -> Response {
        try libraryFile("text/javascript; charset=utf-8") { ByteBuffer(string: try library.script()) }
    }

    @Sendable func stylesheet(_ request: Request, context: SignedInContext) async throws -> Response {
        try libraryFile("text/css; charset=utf-8") { ByteBuffer(bytes: try library.stylesheet()) }
    }

    /// A file of the terminal library, or the words that say what to install.
    private func libraryFile(_ contentType: String, _ body: () throws -> ByteBuffer) throws -> Response {
        guard library.isInstalled else { throw HTTPError(.notFound, message: TerminalLibrary.missingMessage) }
        return Response(
            status: .ok, headers: [.contentType: contentType, .cacheControl: "private, max-age=3600"], body: .init(byteBuffer: try body())
        )
    }

    /// The handshake passed the central check (permission, Origin, CSRF token): upgrade, answering with our
    /// subprotocol. A plain GET (no upgrade) is told where the console is.
    @Sendable func shouldUpgrade(_ request: Request, context: BerthRequestContext) async throws -> RouterShouldUpgrade {
        guard AccessControlMiddleware.isWebSocketHandshake(request) else {
            throw HTTPError(.badRequest, message: "This address is the console's WebSocket; open the console page instead.")
        }
        return .upgrade([.secWebSocketProtocol: Self.subprotocol])
    }

    /// The connection: from here on the page hears about failures in the terminal, never as an HTTP error.
    @Sendable func connected(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ context: WebSocketRouterContext<BerthRequestContext>
    ) async throws {
        let requestContext = context.requestContext
        guard let user = requestContext.user, let engine = requestContext.scopedEngine, let container = requestContext.parameters.get("id") else {
            return
        }
        let query = context.request.uri.queryParameters
        let request = ConsoleRequest(
            container: container, command: query.get("command") ?? "", user: query.get("user") ?? "",
            workdir: query.get("workdir") ?? "",
            columns: query.get("cols").flatMap(Int.init).map { min(max($0, 2), 1000) } ?? 80,
            rows: query.get("rows").flatMap(Int.init).map { min(max($0, 2), 1000) } ?? 24
        )
        let terminal = ConsoleTerminal(outbound: outbound)
        let console = ConsoleSession(
            controller: self, engine: engine.client, request: request, user: user, context: requestContext, terminal: terminal
        )
        await console.run(inbound: inbound)
    }
}

/// What the page asked for.
struct ConsoleRequest: Sendable {
    let container: String
    let command: String
    let user: String
    let workdir: String
    let columns: Int
    let rows: Int
}

/// The page's side of the WebSocket: output as binary messages, events as small JSON text messages.
struct ConsoleTerminal: Sendable {
    let outbound: WebSocketOutboundWriter

    func output(_ bytes: ByteBuffer) async throws {
        try await outbound.write(.binary(bytes))
    }

    /// `{"type": …, …}`; sending fails quietly when the page has gone.
    func tell(_ type: String, _ fields: [String: any Sendable] = [:]) async {
        var object: [String: Any] = fields
        object["type"] = type
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        try? await outbound.write(.text(String(decoding: data, as: UTF8.self)))
    }
}
