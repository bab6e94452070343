import EngineAPI
import Foundation

struct LogsPage: Sendable {
    struct Container: Sendable {
        let id: String
        let shortID: String
        let name: String
        let tty: Bool

        init(_ inspect: ContainerInspect) {
            id = inspect.id
            shortID = String(inspect.id.prefix(12))
            name = inspect.displayName
            tty = inspect.config?.tty ?? false
        }

        /// A source that is not a container (a swarm service).
        init(id: String, name: String) {
            self.id = id
            shortID = String(id.prefix(12))
            self.name = name
            tty = false
        }
    }

    let title: String
    let containers: [Container]
    /// What the tail field shows: a number or `all`.
    let tail: String
    /// The container when the page shows one (for the breadcrumbs and the download link).
    let single: Container?
    /// The stream's query string (ids are hex, so nothing needs escaping).
    var streamQuery: String
    /// Set when the viewer is watching through a dashboard: its crumbs instead of the container pages.
    var dashboard: DashboardCrumb?
    /// A compose project's logs: its crumbs.
    var project: String?

    struct DashboardCrumb: Sendable {
        let title: String
        let path: String
        let container: String
        /// `?engine=NAME` on a dashboard of several engines, else empty.
        let engineQuery: String
        let redacted: Bool
    }
    /// Where the stream is: the containers' merged stream, or a service's.
    var streamPath = "/logs/stream"
    /// The viewer's starting state, from the user's settings.
    let timestamps: Bool
    let wrap: Bool

    init(title: String, containers: [Container], tail: Int?, single: Container?, preferences: UserPreferences) {
        timestamps = preferences.logTimestamps
        wrap = preferences.logWrap
        self.title = title
        self.containers = containers
        self.tail = tail.map(String.init) ?? "all"
        self.single = single
        streamQuery = (containers.map { "container=\($0.id)" } + ["tail=\(self.tail)"]).joined(separator: "&")
    }
}
