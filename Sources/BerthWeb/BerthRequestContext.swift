import Hummingbird

/// Per-request data. The signed-in user will be set by the authentication middleware (see `buildRouter`).
public struct BerthRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
