/// Everything that can go wrong talking to the Docker Engine, in terms a page can show as they are.
public enum EngineError: Error, Sendable, Equatable {
    /// The socket refused, was missing, or the engine did not answer in time.
    case unreachable(address: String, reason: String)
    /// The daemon (or a forced `DOCKER_API_VERSION`) speaks an API older than the oldest one Berth supports.
    case unsupportedAPIVersion(String)
    /// The daemon answered with an error status; `message` is the daemon's own `message` field.
    case daemon(status: Int, message: String)
    /// The daemon answered something that is not what the API documents.
    case invalidResponse(String)
    /// Berth holds as many long-lived streams to the engine as it may (`EngineClient.maxStreams`); try again later.
    case busy(String)

    /// What kind of daemon error this is, by the status codes the Engine API documents.
    public enum Kind: Sendable, Equatable {
        /// 304: the container was already started, stopped or paused.
        case notModified
        /// 400: a bad parameter.
        case badParameter
        /// 404: no such container, image, network…
        case notFound
        /// 409: a conflict, such as a name in use or removing a running container.
        case conflict
        /// 5xx.
        case serverError
        /// Any other status, or not a daemon error at all.
        case other
    }

    public var kind: Kind {
        guard case .daemon(let status, _) = self else { return .other }
        switch status {
        case 304: return .notModified
        case 400: return .badParameter
        case 404: return .notFound
        case 409: return .conflict
        case 500...599: return .serverError
        default: return .other
        }
    }

    /// The HTTP status the daemon answered with, if it answered.
    public var status: Int? {
        if case .daemon(let status, _) = self { return status }
        return nil
    }
}

extension EngineError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unreachable(let address, let reason):
            return "engine unreachable at \(address): \(reason)"
        case .unsupportedAPIVersion(let message):
            return message
        case .daemon(let status, let message):
            return message.isEmpty ? "the engine answered HTTP \(status)" : message
        case .invalidResponse(let message):
            return "unexpected answer from the engine: \(message)"
        case .busy(let message):
            return message
        }
    }
}
