import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Whether a start or stop changed anything. The engine answers 304 when the container already was in that state;
/// for a caller that is not an error.
public enum StateChange: Sendable, Equatable {
    case changed
    case alreadyInState
}

/// Filters of `GET /containers/json`, as the engine names them.
public struct ContainerFilters: Sendable, Hashable {
    /// `created`, `restarting`, `running`, `removing`, `paused`, `exited`, `dead`.
    public var status: [String] = []
    /// `key` or `key=value`.
    public var label: [String] = []
    /// Substring (regular expression, the engine's choice) of the name.
    public var name: [String] = []
    public var ancestor: [String] = []
    public var id: [String] = []

    public init(status: [String] = [], label: [String] = [], name: [String] = [], ancestor: [String] = [], id: [String] = []) {
        self.status = status
        self.label = label
        self.name = name
        self.ancestor = ancestor
        self.id = id
    }

    var asDictionary: [String: [String]] {
        ["status": status, "label": label, "name": name, "ancestor": ancestor, "id": id]
    }
}

extension EngineClient {
    /// `GET /containers/json`; running ones only unless `all`.
    public func listContainers(all: Bool = false, filters: ContainerFilters = .init()) async throws -> [ContainerSummary] {
        var query: [(String, String)] = [("all", all ? "1" : "0")]
        query += try Self.filtersQuery(filters.asDictionary)
        let body = try await transport.collect(EngineRequest(path: "/containers/json", query: query), version: apiVersion(), limit: Self.documentLimit)
        // The quick reader first; should it ever refuse what the engine sent, JSONDecoder has the last word.
        if let containers = try? ContainerListReader.read(body) { return containers }
        return try Self.decodeJSON([ContainerSummary].self, from: body)
    }

    /// `GET /containers/{id}/json`; a missing container throws a daemon error of kind `.notFound`.
    public func inspectContainer(_ id: String) async throws -> ContainerInspect {
        try await decode(ContainerInspect.self, EngineRequest(path: "/containers/\(Self.pathComponent(id))/json"))
    }

    /// `POST /containers/create`.
    public func createContainer(_ request: ContainerCreateRequest, name: String? = nil) async throws -> ContainerCreateResponse {
        let query = name.map { [("name", $0)] } ?? []
        return try await decode(
            ContainerCreateResponse.self,
            EngineRequest(method: .POST, path: "/containers/create", query: query, body: Self.encodeJSON(request))
        )
    }

    /// `POST /containers/{id}/start`.
    @discardableResult
    public func startContainer(_ id: String) async throws -> StateChange {
        try await stateChange(EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(id))/start"))
    }

    /// `POST /containers/{id}/stop`; `timeout` seconds before the engine kills it (nil: the container's default).
    @discardableResult
    public func stopContainer(_ id: String, timeout: Int? = nil) async throws -> StateChange {
        let query = timeout.map { [("t", String($0))] } ?? []
        // The engine waits up to `timeout` for the process: give the request that long and some more.
        let requestTimeout = TimeAmount.seconds(Int64(timeout ?? 10) + 30)
        return try await stateChange(
            EngineRequest(method: .POST, path: "/containers/\(Self.pathComponent(id))/stop", query: query, timeout: requestTimeout)
        )
    }

    /// `POST /containers/{id}/wait`: blocks until the condition holds or `timeout` passes.
    public func waitContainer(
        _ id: String, condition: WaitCondition = .notRunning, timeout: TimeAmount = .minutes(10)
    ) async throws -> ContainerWaitResponse {
        try await decode(
            ContainerWaitResponse.self,
            EngineRequest(
                method: .POST, path: "/containers/\(Self.pathComponent(id))/wait",
                query: [("condition", condition.rawValue)], timeout: timeout
            )
        )
    }

    /// `DELETE /containers/{id}`.
    public func removeContainer(_ id: String, force: Bool = false, removeVolumes: Bool = false) async throws {
        try await perform(
            EngineRequest(
                method: .DELETE, path: "/containers/\(Self.pathComponent(id))",
                query: [("force", force ? "1" : "0"), ("v", removeVolumes ? "1" : "0")]
            )
        )
    }

    /// `GET /containers/{id}/logs`, streamed: frames arrive as the engine sends them.
    ///
    /// - Parameter tty: whether the container has a TTY (its logs are then raw, not multiplexed). Nil asks inspect.
    public func containerLogs(_ id: String, options: LogOptions = .init(), tty: Bool? = nil) async throws -> ContainerLogs {
        let isTTY: Bool
        if let tty {
            isTTY = tty
        } else {
            isTTY = try await inspectContainer(id).config?.tty ?? false
        }
        var query: [(String, String)] = [
            ("stdout", options.stdout ? "1" : "0"),
            ("stderr", options.stderr ? "1" : "0"),
            ("timestamps", options.timestamps ? "1" : "0"),
            ("follow", options.follow ? "1" : "0"),
        ]
        if let tail = options.tail { query.append(("tail", String(tail))) }
        if let since = options.since { query.append(("since", since)) }
        if let until = options.until { query.append(("until", until)) }
        let body = try await openStream(
            EngineRequest(path: "/containers/\(Self.pathComponent(id))/logs", query: query, timeout: options.timeout),
            follows: options.follow
        )
        return ContainerLogs(body: body, tty: isTTY, address: address.description)
    }

    private func stateChange(_ request: EngineRequest) async throws -> StateChange {
        do {
            try await perform(request)
            return .changed
        } catch let error as EngineError where error.kind == .notModified {
            return .alreadyInState
        }
    }

    /// Container ids and names travel in the path; a name can't hold `/`, but a hostile one must not change the path.
    static func pathComponent(_ idOrName: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._")
        return idOrName.addingPercentEncoding(withAllowedCharacters: allowed) ?? idOrName
    }
}

/// What `POST /containers/{id}/wait` waits for.
public enum WaitCondition: String, Sendable {
    case notRunning = "not-running"
    case nextExit = "next-exit"
    case removed
}

/// Options of a logs request.
public struct LogOptions: Sendable {
    public var stdout = true
    public var stderr = true
    public var timestamps = false
    /// The last N lines; nil for all.
    public var tail: Int?
    /// A Unix timestamp (`1700000000.5`, or ``LogTimestamp``'s description) or duration the engine understands.
    public var since: String?
    public var until: String?
    /// Keep the stream open and pass on new output as the container writes it.
    public var follow = false
    /// How long the engine may take to answer; once it does, the stream has no time limit.
    public var timeout: TimeAmount = .minutes(1)

    public init(
        stdout: Bool = true, stderr: Bool = true, timestamps: Bool = false, tail: Int? = nil, since: String? = nil,
        until: String? = nil, follow: Bool = false
    ) {
        self.until = until
        self.follow = follow
        self.stdout = stdout
        self.stderr = stderr
        self.timestamps = timestamps
        self.tail = tail
        self.since = since
    }
}
