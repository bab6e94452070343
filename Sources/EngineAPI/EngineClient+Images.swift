extension EngineClient {
    /// `GET /images/json`; intermediate layers only with `all`.
    public func listImages(all: Bool = false) async throws -> [ImageSummary] {
        try await decode([ImageSummary].self, EngineRequest(path: "/images/json", query: [("all", all ? "1" : "0")]))
    }
}
