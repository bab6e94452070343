import AsyncHTTPClient
import NIOCore
import NIOHTTP1

extension EngineClient {
    /// `GET /images/json`; intermediate layers only with `all`.
    public func listImages(all: Bool = false) async throws -> [ImageSummary] {
        try await decode([ImageSummary].self, EngineRequest(path: "/images/json", query: [("all", all ? "1" : "0")]))
    }
}

extension EngineClient {
    /// `GET /images/{name}/json`; a missing image throws a daemon error of kind `.notFound`.
    public func inspectImage(_ name: String) async throws -> ImageInspect {
        try await decode(ImageInspect.self, EngineRequest(path: "/images/\(Self.pathComponent(name))/json"))
    }
}

extension EngineClient {
    /// `POST /images/create?fromImage=…&tag=…`: pulls an image, with its progress as JSON lines. Credentials go in
    /// `X-Registry-Auth` for this request only. A registry refusal comes either as an error status (thrown) or as an
    /// `error` line in the stream.
    public func pullImage(
        _ reference: ImageReference, credentials: RegistryCredentials? = nil, headTimeout: TimeAmount = .minutes(2)
    ) async throws -> JSONLines<PullProgressMessage> {
        var query = [("fromImage", reference.repository)]
        if let digest = reference.digest {
            query.append(("tag", digest))
        } else {
            query.append(("tag", reference.tag ?? "latest"))
        }
        var request = EngineRequest(method: .POST, path: "/images/create", query: query, timeout: headTimeout)
        if let credentials { request.headers.append(("X-Registry-Auth", credentials.header)) }
        let response = try await stream(request)
        return JSONLines(body: response.body, address: address.description)
    }
}

extension EngineClient {
    /// `DELETE /images/{name}`: untags, and deletes the image when no tag is left (`force` also when containers use
    /// it; `noprune` keeps untagged parents). Returns what was untagged and deleted.
    @discardableResult
    public func removeImage(_ name: String, force: Bool = false, noprune: Bool = false) async throws -> [ImageDeleteItem] {
        try await decode([ImageDeleteItem].self, EngineRequest(
            method: .DELETE, path: "/images/\(Self.pathComponent(name))",
            query: [("force", force ? "1" : "0"), ("noprune", noprune ? "1" : "0")]
        ))
    }

    /// `POST /images/{name}/tag?repo=…&tag=…`.
    public func tagImage(_ name: String, repository: String, tag: String) async throws {
        try await perform(EngineRequest(
            method: .POST, path: "/images/\(Self.pathComponent(name))/tag", query: [("repo", repository), ("tag", tag)]
        ))
    }

    /// `GET /images/json?filters={"dangling":["true"]}`: images without a tag.
    public func listDanglingImages() async throws -> [ImageSummary] {
        try await decode(
            [ImageSummary].self, EngineRequest(path: "/images/json", query: try Self.filtersQuery(["dangling": ["true"]]))
        )
    }

    /// `POST /images/prune` of dangling images (those no container uses).
    public func pruneDanglingImages() async throws -> ImagePruneResponse {
        try await decode(
            ImagePruneResponse.self,
            EngineRequest(method: .POST, path: "/images/prune", query: try Self.filtersQuery(["dangling": ["true"]]), timeout: .minutes(5))
        )
    }

    /// `GET /images/{name}/history`: the layers, newest first.
    public func imageHistory(_ name: String) async throws -> [ImageHistoryItem] {
        try await decode([ImageHistoryItem].self, EngineRequest(path: "/images/\(Self.pathComponent(name))/history"))
    }
}
