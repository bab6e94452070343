import AsyncHTTPClient
import NIOCore

extension EngineClient {
    /// `GET /events`: the engine's events as they happen (or, with `until`, the recorded ones in a range, then the end).
    ///
    /// - Parameter headTimeout: how long the engine may take to answer; the stream itself has no time limit.
    public func events(
        since: LogTimestamp? = nil, until: LogTimestamp? = nil, filters: [String: [String]] = [:],
        headTimeout: TimeAmount = .seconds(30)
    ) async throws -> JSONLines<EngineEvent> {
        var query: [(String, String)] = []
        if let since { query.append(("since", since.description)) }
        if let until { query.append(("until", until.description)) }
        query += try Self.filtersQuery(filters)
        let response = try await stream(EngineRequest(path: "/events", query: query, timeout: headTimeout))
        return JSONLines(body: response.body, address: address.description)
    }

    /// `GET /containers/{id}/stats?stream=1`: a sample about every second while the container lives.
    public func containerStats(_ id: String, headTimeout: TimeAmount = .seconds(30)) async throws -> JSONLines<ContainerStatsSample> {
        let response = try await stream(
            EngineRequest(path: "/containers/\(Self.pathComponent(id))/stats", query: [("stream", "1")], timeout: headTimeout)
        )
        return JSONLines(body: response.body, address: address.description)
    }
}
