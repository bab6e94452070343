import Hummingbird

/// The context of a route that needs a session. The access check admitted a signed-in user before the route's
/// handler runs, so here the user is not optional; a route registered through `Routes` with a handler taking this
/// context is one whose permission needs a role.
public struct SignedInContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's context as the middleware left it: the client, the form, the user's settings.
    let base: BerthRequestContext
    let user: SignedInUser

    public init(context: BerthRequestContext) throws {
        // Unreachable behind the access check (its routes need a role); refused all the same if it were.
        guard let user = context.user else { throw HTTPError(.unauthorized) }
        coreContext = context.coreContext
        base = context
        self.user = user
    }

    var form: FormFields { base.form }
    var preferences: UserPreferences { base.preferences }
    var isAdmin: Bool { user.role == .admin }
}

/// What pages, the audit trail and streams take of a request: both contexts give the request's own.
protocol BerthContext {
    var base: BerthRequestContext { get }
}

extension BerthContext {
    /// The engine the route acts on (`/engines/{engine}/…`, else `local`).
    var engine: EngineHandle {
        get throws {
            guard let engine = base.scopedEngine else { throw HTTPError(.internalServerError, message: "This page belongs to no engine.") }
            return engine
        }
    }

    /// A path of the request's engine, in the form the request named it (`/engines/NAME/containers`, or `/containers`
    /// for `local` at its plain paths).
    func link(_ path: String) -> String { base.enginePath + path }
}

extension BerthRequestContext: BerthContext {
    var base: BerthRequestContext { self }
}

extension SignedInContext: BerthContext {}
