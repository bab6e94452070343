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
