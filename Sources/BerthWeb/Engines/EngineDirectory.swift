import EngineAPI
import Logging
import NIOConcurrencyHelpers

/// One engine Berth administers: its client, and the shared upstreams every page watching it joins (one events
/// connection, one stats stream per container, one log tail per container, whatever the number of watchers).
final class EngineHandle: Sendable {
    let name: String
    let client: EngineClient
    /// Its own role groups; nil: the global groups apply.
    let roleGroups: RoleGroups?
    let events: Broadcaster<EngineEventMessage>
    let stats: Broadcaster<StatsMessage>
    let tails: Broadcaster<LogStreamMessage>
    /// The engine's `/info` (counts, version) as the overview last read it: asked again after a few seconds, so that a
    /// busy overview costs each engine one list call per view, not an info call as well.
    private let lastInfo = NIOLockedValueBox<(info: SystemInfo, read: ContinuousClock.Instant)?>(nil)
    static let infoLifetime: Duration = .seconds(10)

    init(name: String, client: EngineClient, roleGroups: RoleGroups?) {
        self.name = name
        self.client = client
        self.roleGroups = roleGroups
        events = Broadcaster(upstream: EventsController.upstream(engine: client))
        stats = Broadcaster(upstream: StatsController.upstream(engine: client))
        tails = Broadcaster(upstream: LogTail.upstream(engine: client))
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

/// Every engine Berth administers, by name; `local` first, then in the configuration's order.
final class EngineDirectory: Sendable {
    let local: EngineHandle
    let all: [EngineHandle]
    private let byName: [String: EngineHandle]

    init(local: EngineHandle, others: [EngineHandle]) {
        self.local = local
        all = [local] + others
        byName = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func named(_ name: String) -> EngineHandle? { byName[name] }

    /// Clients for the definitions; what can't be used (a TLS file) stops the start with words that name the engine.
    static func make(_ configuration: AppConfiguration, logger: Logger) throws -> EngineDirectory {
        func client(_ name: String, _ address: EngineAddress, tls: EngineTLS.Loaded?, ssh: EngineSSH.Loaded?) -> EngineClient {
            var engineLogger = logger
            engineLogger[metadataKey: "engine"] = "\(name)"
            return EngineClient(
                address: address, tls: tls, ssh: ssh, apiVersion: configuration.apiVersion, maxStreams: configuration.maxEngineStreams,
                logger: engineLogger
            )
        }
        // Everything is read before the first client (which owns threads) is made.
        let localTLS = try configuration.loadEngineTLS()
        let localSSH = try configuration.loadEngineSSH()
        let others = try configuration.engines.map { definition in
            (
                definition, try AppConfiguration.loadTLS(definition.tlsDirectory, for: definition.address, engine: definition.name),
                try AppConfiguration.loadSSH(key: definition.sshKey, knownHosts: definition.knownHosts, for: definition.address, engine: definition.name)
            )
        }
        let local = EngineHandle(
            name: EngineDefinition.localName,
            client: client(EngineDefinition.localName, configuration.engineAddress, tls: localTLS, ssh: localSSH),
            roleGroups: configuration.localEngineGroups.roleGroups(global: configuration.roleGroups)
        )
        return EngineDirectory(local: local, others: others.map { definition, tls, ssh in
            EngineHandle(
                name: definition.name, client: client(definition.name, definition.address, tls: tls, ssh: ssh),
                roleGroups: definition.groups.roleGroups(global: configuration.roleGroups)
            )
        })
    }

    func shutdown() async {
        for engine in all { try? await engine.client.shutdown() }
    }
}
