import EngineAPI
import Hummingbird

/// What `error.mustache` shows: a status and a message a person can act on, never a stack trace.
struct ErrorPage: Sendable {
    let title: String
    let status: Int
    let message: String
}


extension EngineError {
    /// The status a page answers with: the engine's refusal of what the user asked (4xx) is the user's 4xx, with
    /// the engine's words; an engine that fails is 502; one that can't be reached, 503.
    var pageStatus: HTTPResponse.Status {
        switch self {
        case .daemon(let status, _) where (400..<500).contains(status) && status != 401 && status != 407:
            // (An engine behind a proxy that wants credentials is the engine failing, not the user's sign-in.)
            return HTTPResponse.Status(code: status)
        case .daemon, .invalidResponse:
            return .badGateway
        case .unreachable, .unsupportedAPIVersion, .busy:
            return .serviceUnavailable
        }
    }

    /// The error page for a page that asked the engine about one thing: 404 with `missing` when the engine does not
    /// know it, else `pageStatus` with the engine's own words.
    func pageError(missing: String) -> HTTPError {
        kind == .notFound ? HTTPError(.notFound, message: missing) : HTTPError(pageStatus, message: description)
    }

    /// What a page says of a container the engine does not know.
    static func missingContainer(_ id: String) -> String { "No such container: \(id). It may have been removed." }
}

extension EngineClient {
    /// The container a page is about: one the engine does not know is the page's 404, a failing engine its own status.
    func inspectContainerForPage(_ id: String) async throws -> ContainerInspect {
        do {
            return try await inspectContainer(id)
        } catch let error as EngineError {
            throw error.pageError(missing: EngineError.missingContainer(id))
        }
    }
}
