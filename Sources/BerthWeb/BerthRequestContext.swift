import BerthStore
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Per-request data: the client, and the signed-in user once ``AccessControlMiddleware`` has resolved the session.
public struct BerthRequestContext: RequestContext, RemoteAddressRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection: a refused WebSocket handshake tells its `ConnectionGuard` the status to answer with.
    let channel: any Channel
    /// Set by the access check; nil on public routes without a session.
    public var user: SignedInUser? {
        didSet { observed.username = user?.username }
    }
    /// Shared by every copy of this request's context: what the request log reports (``RequestLogMiddleware``).
    let observed = ObservedRequest()
    /// Set by the access check on share-link routes instead of `user`.
    public var shareViewer: ShareViewer? {
        didSet { if user == nil { observed.username = shareViewer?.actor } }
    }
    /// Where the request came from, proxies resolved.
    var client: ClientResolver.Client?
    var userAgent: String?
    /// The audit action the matched route declared (set by the access check): what its handler records under.
    var auditAction: AuditAction?
    /// The fields of a form POST, read (and CSRF-checked) by the access check; none on other requests.
    var form = FormFields("")
    /// A message from the previous request (after a redirect), shown once.
    var flash: Flash?
    /// The signed-in user's settings (defaults without a session).
    var preferences = UserPreferences()
    /// The engine the route acts on, set by the access check (nil on routes of no engine).
    var scopedEngine: EngineHandle?
    /// How the request named it: `/engines/NAME`, or "" at the paths without that prefix (`local`). The page's links
    /// keep the same form.
    var enginePath = ""
    /// The engines and the roles on them (set by the access check), for the header's switcher.
    var engineAccess: EngineAccess?
    /// Where a WebSocket route leaves its handler for the connection's upgrade (the console).
    public let webSocket = WebSocketHandlerReference<BerthRequestContext>()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
}
