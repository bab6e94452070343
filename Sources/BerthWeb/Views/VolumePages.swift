import EngineAPI
import Foundation

/// What `volumes.mustache` (and the prune preview) show.
struct VolumeListPage: Sendable {
    let title = "Volumes"
    let rows: [Row]
    let isEmpty: Bool
    let total: String
    let count: Int

    struct Row: Sendable {
        let name: String
        let driver: String
        let mountpoint: String
        let labels: [ContainerRow.Label]
        let size: String
        let usedBy: [String]
        let hostBind: Bool
    }

    init(volumes: [Volume], containers: [ContainerSummary], sizes: [String: Int64]) {
        var users: [String: [String]] = [:]
        for container in containers {
            for mount in container.mounts ?? [] where mount.type == "volume" {
                if let name = mount.name { users[name, default: []].append(ContainerRow(container).name) }
            }
        }
        rows = volumes.sorted { $0.name < $1.name }.map { volume in
            let size = sizes[volume.name].flatMap { $0 >= 0 ? ByteCountFormatter.string(fromByteCount: $0, countStyle: .binary) : nil }
            return Row(
                name: volume.name, driver: volume.driver ?? "", mountpoint: volume.mountpoint ?? "",
                labels: (volume.labels ?? [:]).sorted { $0.key < $1.key }.map { ContainerRow.Label(key: $0.key, value: $0.value) },
                size: size ?? "–", usedBy: users[volume.name] ?? [], hostBind: volume.options?["o"]?.contains("bind") == true
            )
        }
        isEmpty = volumes.isEmpty
        count = volumes.count
        let known = volumes.compactMap { sizes[$0.name] }.filter { $0 >= 0 }.reduce(0, +)
        total = ByteCountFormatter.string(fromByteCount: known, countStyle: .binary)
    }
}
