import EngineAPI
import Foundation

/// What `system.mustache` shows.
struct SystemPage: Sendable {
    let title = "Engine"
    let facts: [Fact]
    let usage: [Usage]
    let preview: [Preview]
    let swarm: String

    struct Fact: Sendable {
        let label: String
        let value: String
    }

    struct Usage: Sendable {
        let kind: String
        let count: Int
        let size: String
    }

    /// One kind a prune may remove, with what it would remove now.
    struct Preview: Sendable {
        let name: String
        let label: String
        let items: [String]
        let count: Int
        let size: String
    }

    init(info: SystemInfo, version: SystemVersion, negotiated: String, usage: DiskUsage, containers: [ContainerSummary], networks: [Network]) {
        func bytes(_ value: Int64) -> String { ByteCountFormatter.string(fromByteCount: value, countStyle: .binary) }
        let apiText = "\(version.apiVersion ?? "?") (minimum \(version.minAPIVersion ?? "?"); Berth speaks \(negotiated))"
        var containerText: String?
        if let total = info.containers {
            let running = info.containersRunning ?? 0, paused = info.containersPaused ?? 0, stopped = info.containersStopped ?? 0
            containerText = "\(total) (\(running) running, \(paused) paused, \(stopped) stopped)"
        }
        let pairs: [(String, String?)] = [
            ("Name", info.name), ("Engine version", version.version ?? info.serverVersion), ("API version", apiText),
            ("Operating system", info.operatingSystem), ("Kernel", info.kernelVersion ?? version.kernelVersion),
            ("Architecture", info.architecture ?? version.arch), ("CPUs", info.cpuCount.map { String($0) }),
            ("Memory", info.memoryTotal.map(bytes)), ("Storage driver", info.driver), ("Containers", containerText),
            ("Images", info.images.map { String($0) }),
        ]
        facts = pairs.compactMap { pair in pair.1.map { Fact(label: pair.0, value: $0) } }
        swarm = info.swarm?.localNodeState ?? "inactive"

        let images = usage.images ?? []
        let volumes = usage.volumes ?? []
        let cache = usage.buildCache ?? []
        self.usage = [
            Usage(kind: "Images", count: images.count, size: bytes(usage.layersSize ?? images.reduce(0) { $0 + ($1.size ?? 0) })),
            Usage(kind: "Volumes", count: volumes.count, size: bytes(volumes.reduce(0) { $0 + max($1.usageData?.size ?? 0, 0) })),
            Usage(kind: "Build cache", count: cache.count, size: bytes(cache.reduce(0) { $0 + ($1.size ?? 0) })),
        ]

        let stopped = containers.filter { ["exited", "created", "dead"].contains($0.state ?? "") }
        let usedImages = Set(containers.compactMap(\.imageID))
        let dangling = images.filter { ($0.repoTags ?? []).allSatisfy { $0 == "<none>:<none>" } && !usedImages.contains($0.id) }
        let usedNetworks = Set(containers.flatMap { $0.networkNames })
        let unusedNetworks = networks.filter { !$0.isPredefined && !usedNetworks.contains($0.name ?? "") && $0.scope != "swarm" }
        let idleCache = cache.filter { $0.inUse != true }
        preview = [
            Preview(
                name: "containers", label: "Stopped containers", items: stopped.map { ContainerRow($0).name }, count: stopped.count,
                size: ""
            ),
            Preview(
                name: "images", label: "Dangling images", items: dangling.map { String($0.id.dropFirst(7).prefix(12)) },
                count: dangling.count, size: bytes(dangling.reduce(0) { $0 + ($1.size ?? 0) })
            ),
            Preview(
                name: "networks", label: "Unused networks", items: unusedNetworks.compactMap(\.name), count: unusedNetworks.count, size: ""
            ),
            Preview(
                name: "build-cache", label: "Build cache", items: [], count: idleCache.count,
                size: bytes(idleCache.reduce(0) { $0 + ($1.size ?? 0) })
            ),
        ]
    }
}
