import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// A container's recent log lines, read once (live streaming comes with the SSE endpoints).
struct LogsController: Sendable {
    let engine: EngineClient
    let audit: AuditTrail
    let views: PageRenderer

    static let defaultTail = 500
    static let maxTail = 10_000
    /// What one page shows at most; the container's log keeps the rest.
    static let byteLimit = 2 * 1024 * 1024

    func addRoutes(to routes: Routes) {
        routes.get("/containers/{id}/logs", .operateContainers, audit: "container.logs", use: show)
    }

    @Sendable func show(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let tailText = request.uri.queryParameters["tail"].map(String.init) ?? ""
        let tail = min(Int(tailText).map { max($0, 1) } ?? Self.defaultTail, Self.maxTail)
        let timestamps = request.uri.queryParameters["timestamps"] == "1"
        do {
            let inspect = try await engine.inspectContainer(id)
            let logs = try await engine.containerLogs(
                inspect.id, options: LogOptions(timestamps: timestamps, tail: tail), tty: inspect.config?.tty ?? false
            )
            var lines = LogLines()
            for try await frame in logs {
                guard lines.append(frame) else { break }
            }
            lines.finish()
            let name = inspect.displayName
            await audit.record(
                "container.logs", outcome: .ok, context: context, targetType: "container", targetId: inspect.id, targetName: name,
                parameters: ["tail": String(tail)]
            )
            let page = LogsPage(
                title: "Logs of \(name)", id: inspect.id, name: name, tail: tail, timestamps: timestamps, lines: lines.lines,
                truncated: lines.truncated
            )
            return try views.page("logs", page, context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such container: \(id). It may have been removed.")
        }
    }
}

/// Joins frames into lines per stream, bounded in bytes. Invalid UTF-8 becomes U+FFFD.
struct LogLines {
    struct Line: Sendable {
        let stream: String
        let text: String
    }

    private(set) var lines: [Line] = []
    private(set) var truncated = false
    private var pending: [LogStreamKind: [UInt8]] = [:]
    private var bytes = 0

    /// Adds a frame; false once the byte limit is reached.
    mutating func append(_ frame: LogFrame) -> Bool {
        bytes += frame.bytes.count
        if bytes > LogsController.byteLimit {
            truncated = true
            return false
        }
        var buffer = pending[frame.stream] ?? []
        for byte in frame.bytes {
            if byte == UInt8(ascii: "\n") {
                emit(frame.stream, buffer)
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.append(byte)
            }
        }
        pending[frame.stream] = buffer
        return true
    }

    mutating func finish() {
        for (stream, buffer) in pending where !buffer.isEmpty { emit(stream, buffer) }
        pending.removeAll()
    }

    private mutating func emit(_ stream: LogStreamKind, _ buffer: [UInt8]) {
        var text = String(decoding: buffer, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        let name: String
        switch stream {
        case .stderr: name = "stderr"
        case .tty: name = "tty"
        default: name = "stdout"
        }
        lines.append(Line(stream: name, text: text))
    }
}

struct LogsPage: Sendable {
    let title: String
    let id: String
    let name: String
    let tail: Int
    let timestamps: Bool
    let lines: [LogLines.Line]
    let truncated: Bool
}
