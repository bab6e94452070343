import Foundation
import NIOCore
import NIOHTTP1

/// What a process started in a running container (`docker exec`) runs, as whom and where.
public struct ExecOptions: Sendable, Equatable {
    public var command: [String]
    /// `user`, `user:group`, `uid` or `uid:gid`; the container's user when nil.
    public var user: String?
    /// The container's working directory when nil.
    public var workingDirectory: String?
    public var environment: [String]
    /// A terminal: output comes as one raw stream (no stdout/stderr frames) and the size can be set.
    public var tty: Bool

    public init(
        command: [String], user: String? = nil, workingDirectory: String? = nil, environment: [String] = [], tty: Bool = true
    ) {
        self.command = command
        self.user = user
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.tty = tty
    }
}

/// `GET /exec/{id}/json`, the parts Berth reads.
public struct ExecState: Sendable, Equatable, Decodable {
    public var running: Bool
    /// Nil while the process runs.
    public var exitCode: Int?
    public var pid: Int?

    enum CodingKeys: String, CodingKey {
        case running = "Running"
        case exitCode = "ExitCode"
        case pid = "Pid"
    }

    public init(running: Bool, exitCode: Int?, pid: Int?) {
        self.running = running
        self.exitCode = exitCode
        self.pid = pid
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        running = try container.decode(Bool.self, forKey: .running)
        pid = try container.decodeIfPresent(Int.self, forKey: .pid)
        // The engine reports 0 while the process runs; that is no exit code yet.
        exitCode = running ? nil : try container.decodeIfPresent(Int.self, forKey: .exitCode)
    }
}

/// A started exec process, attached both ways on a connection of its own.
///
/// ``output`` is what the process writes (raw bytes for a TTY; stdout/stderr frames that ``LogDemultiplexer`` reads
/// otherwise), with back pressure: while nobody reads it, the engine stops reading the process's output and the
/// process blocks. ``send(_:)`` waits until the engine's connection took the bytes, so a process that does not read
/// its input slows the sender instead of filling memory. The session ends when the process exits (``output`` ends)
/// or ``close()`` is called.
public struct ExecSession: Sendable {
    public let id: String
    public let output: ExecOutput
    let channel: any Channel
    let address: String

    /// Writes to the process's input.
    public func send(_ bytes: ByteBuffer) async throws {
        do {
            try await channel.writeAndFlush(bytes)
        } catch {
            throw EngineError.unreachable(address: address, reason: "the exec connection closed (\(EngineTransport.reason(for: error)))")
        }
    }

    /// Ends the process's input (what Ctrl-D at an empty prompt does), leaving its output open.
    public func finishInput() async {
        try? await channel.close(mode: .output)
    }

    /// Closes the connection: the process gets a hang-up on its terminal (a shell exits).
    public func close() {
        channel.close(promise: nil)
    }
}

/// The output of an ``ExecSession``, a socket read at a time.
public struct ExecOutput: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let body: StreamedBody

    public func makeAsyncIterator() -> Iterator { Iterator(base: body.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        var base: StreamedBody.AsyncIterator
        public mutating func next() async throws -> ByteBuffer? { try await base.next() }
    }
}

extension EngineClient {
    /// `POST /containers/{id}/exec`: prepares a process in a running container and returns its exec id.
    public func createExec(in container: String, options: ExecOptions) async throws -> String {
        struct Body: Encodable {
            var AttachStdin = true
            var AttachStdout = true
            var AttachStderr = true
            var Tty: Bool
            var Cmd: [String]
            var User: String?
            var WorkingDir: String?
            var Env: [String]?
        }
        struct Created: Decodable { var Id: String }
        let body = Body(
            Tty: options.tty, Cmd: options.command, User: options.user, WorkingDir: options.workingDirectory,
            Env: options.environment.isEmpty ? nil : options.environment
        )
        let created = try await decode(
            Created.self,
            EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(container))/exec", body: try Self.encodeJSON(body))
        )
        return created.Id
    }

    /// `POST /exec/{id}/start`, attached: the engine hands the connection over to the process's input and output.
    public func startExec(_ id: String, tty: Bool = true) async throws -> ExecSession {
        struct Body: Encodable {
            var Detach = false
            var Tty: Bool
        }
        let request = EngineRequest(
            method: .POST, path: "/exec/\(Self.pathComponent(id))/start", body: try Self.encodeJSON(Body(Tty: tty)),
            timeout: .seconds(30), upgrade: true
        )
        let (body, channel) = try await transport.openConnection(request, version: apiVersion(), follows: true)
        return ExecSession(id: id, output: ExecOutput(body: body), channel: channel, address: address.description)
    }

    /// `POST /exec/{id}/resize`: the terminal's size in characters.
    public func resizeExec(_ id: String, rows: Int, columns: Int) async throws {
        try await perform(
            EngineRequest(
                method: .POST, path: "/exec/\(Self.pathComponent(id))/resize",
                query: [("h", String(rows)), ("w", String(columns))]
            )
        )
    }

    /// `GET /exec/{id}/json`.
    public func inspectExec(_ id: String) async throws -> ExecState {
        try await decode(ExecState.self, EngineRequest(path: "/exec/\(Self.pathComponent(id))/json"))
    }

    /// Whether a file or folder exists in a container (`HEAD /containers/{id}/archive`), without running anything in
    /// it: how a console finds the shell a container has.
    public func containerPathExists(_ container: String, path: String) async throws -> Bool {
        do {
            try await perform(
                EngineRequest(method: .HEAD, path: "/containers/\(Self.pathComponent(container))/archive", query: [("path", path)])
            )
            return true
        } catch let error as EngineError where error.kind == .notFound {
            // A HEAD answer has no message to tell a missing path from a missing container: the container missing is
            // an error (inspecting it throws the engine's own words), the path missing is the answer.
            _ = try await inspectContainer(container)
            return false
        }
    }
}
