import EngineAPI
import Logging
import NIOConcurrencyHelpers

/// One engine Berth administers: its client, and the shared upstreams every page watching it joins (one events
/// connection, one stats stream per container, one log tail per container, whatever the number of watchers).
final class EngineHandle: Sendable {
    let name: String
    let client: EngineClient
    /// Its own role groups; nil: the global groups apply. An admin may change them while it runs.
    var roleGroups: RoleGroups? { groups.withLockedValue { $0 } }
    private let groups: NIOLockedValueBox<RoleGroups?>
    let events: Broadcaster<EngineEventMessage>
    let stats: Broadcaster<StatsMessage>
    let tails: Broadcaster<LogStreamMessage>
    /// Container lists and inspects that many ask for at once share: the screens of a dashboard wall opening together
    /// (their recent events), their status tables' inspects.
    let containerLists = SharedReads<ContainerFilters, [ContainerSummary]>()
    let inspects = SharedReads<String, ContainerInspect>()
    /// The last hour's container events, which each dashboard screen opening picks its recent events from.
    let recentContainerEvents = SharedReads<Bool, [EngineEvent]>()
    /// Dashboards' status tables (their list and inspects included), which the screens of a wall share whole.
    let dashboardTables = SharedReads<DashboardTableKey, [DashboardContainerStatus]>()
    /// The engine's `/info` (counts, version) as the overview last read it: asked again after a few seconds, so that a
    /// busy overview costs each engine one list call per view, not an info call as well.
    private let lastInfo = NIOLockedValueBox<(info: SystemInfo, read: ContinuousClock.Instant)?>(nil)
    static let infoLifetime: Duration = .seconds(10)

    /// Who added it in the browser; nil for the configuration file's.
    let addedBy: String?

    init(name: String, client: EngineClient, roleGroups: RoleGroups?, addedBy: String? = nil) {
        self.addedBy = addedBy
        self.name = name
        self.client = client
        groups = NIOLockedValueBox(roleGroups)
        events = Broadcaster(upstream: EventsController.upstream(engine: client))
        stats = Broadcaster(upstream: StatsController.upstream(engine: client))
        tails = Broadcaster(upstream: LogTail.upstream(engine: client))
    }

    func setRoleGroups(_ roleGroups: RoleGroups?) { groups.withLockedValue { $0 = roleGroups } }

    /// Its live pages end now, saying why (they reconnect through the central check, to what replaced it, if anything).
    func closeStreams(reason: String) {
        events.closeAll(reason: reason)
        stats.closeAll(reason: reason)
        tails.closeAll(reason: reason)
    }

    /// The start of its pages' URLs.
    var path: String { "/engines/\(name)" }

    var isLocal: Bool { name == EngineDefinition.localName }

    /// `/info`, read at most every ``infoLifetime``.
    func recentInfo() async throws -> SystemInfo {
        if let last = lastInfo.withLockedValue({ $0 }), ContinuousClock.now - last.read < Self.infoLifetime { return last.info }
        let info = try await client.info()
        lastInfo.withLockedValue { $0 = (info, .now) }
        return info
    }
}

/// Every engine Berth administers, by name; `local` first, then the configuration file's in its order, then those
/// admins added in the browser (which can change while Berth runs).
final class EngineDirectory: Sendable {
    let local: EngineHandle
    /// The names the configuration file gives (`local` among them): not to be changed in the browser.
    let configured: Set<String>
    private let engines: NIOLockedValueBox<[EngineHandle]>
    /// Engines saved in the browser that could not be set up, and why (a key that no longer opens, say).
    private let failed = NIOLockedValueBox<[String: String]>([:])
    /// Replaced or removed engines whose clients are still open for the requests that had them.
    private let retiring = NIOLockedValueBox<[ObjectIdentifier: EngineHandle]>([:])
    static let retireAfter: Duration = .seconds(30)

    init(local: EngineHandle, others: [EngineHandle]) {
        self.local = local
        configured = Set(([local] + others).map(\.name))
        engines = NIOLockedValueBox([local] + others)
    }

    var all: [EngineHandle] { engines.withLockedValue { $0 } }

    func named(_ name: String) -> EngineHandle? { engines.withLockedValue { list in list.first { $0.name == name } } }

    var failures: [String: String] { failed.withLockedValue { $0 } }

    func recordFailure(_ name: String, _ reason: String?) { failed.withLockedValue { $0[name] = reason } }

    /// Adds an engine, or puts it in the place of the one of that name (returned, to be shut down); never one of the
    /// configuration file's.
    @discardableResult
    func put(_ engine: EngineHandle) -> EngineHandle? {
        // The configuration file's engines are not replaced (its callers refuse first; this is the last word).
        guard !configured.contains(engine.name) else { return engine }
        failed.withLockedValue { $0[engine.name] = nil }
        return engines.withLockedValue { list in
            if let index = list.firstIndex(where: { $0.name == engine.name }) {
                let old = list[index]
                list[index] = engine
                return old
            }
            list.append(engine)
            return nil
        }
    }

    /// Takes an engine added in the browser out; returns it, to be shut down.
    func remove(_ name: String) -> EngineHandle? {
        guard !configured.contains(name) else { return nil }
        failed.withLockedValue { $0[name] = nil }
        return engines.withLockedValue { list in
            guard let index = list.firstIndex(where: { $0.name == name }) else { return nil }
            return list.remove(at: index)
        }
    }

    /// An engine's client, as every engine gets one.
    static func client(
        _ name: String, _ address: EngineAddress, tls: EngineTLS.Loaded?, ssh: EngineSSH.Loaded?, configuration: AppConfiguration, logger: Logger
    ) -> EngineClient {
        var engineLogger = logger
        engineLogger[metadataKey: "engine"] = "\(name)"
        return EngineClient(
            address: address, tls: tls, ssh: ssh, apiVersion: configuration.apiVersion, maxStreams: configuration.maxEngineStreams,
            logger: engineLogger
        )
    }

    /// Clients for the definitions; what can't be used (a TLS file) stops the start with words that name the engine.
    static func make(_ configuration: AppConfiguration, logger: Logger) throws -> EngineDirectory {
        // Everything is read before the first client (which owns threads) is made.
        let loaded = try ([configuration.localEngine] + configuration.engines).map { ($0, try $0.loadTransport()) }
        let handles = loaded.map { definition, transport in
            EngineHandle(
                name: definition.name,
                client: client(definition.name, definition.address, tls: transport.tls, ssh: transport.ssh, configuration: configuration, logger: logger),
                roleGroups: definition.groups.roleGroups(global: configuration.roleGroups)
            )
        }
        return EngineDirectory(local: handles[0], others: Array(handles.dropFirst()))
    }

    /// A replaced or removed engine: its live pages end at once, its client after the requests that have it are done.
    func retire(_ engine: EngineHandle, reason: String) {
        engine.closeStreams(reason: reason)
        retiring.withLockedValue { $0[ObjectIdentifier(engine)] = engine }
        Task {
            try? await Task.sleep(for: Self.retireAfter)
            guard retiring.withLockedValue({ $0.removeValue(forKey: ObjectIdentifier(engine)) }) != nil else { return }
            try? await engine.client.shutdown()
        }
    }

    func shutdown() async {
        let retired = retiring.withLockedValue { state in
            defer { state = [:] }
            return Array(state.values)
        }
        for engine in all + retired { try? await engine.client.shutdown() }
    }
}
