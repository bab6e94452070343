import EngineAPI
import Foundation

/// What `images.mustache` shows.
struct ImageListPage: Sendable {
    let title = "Images"
    let rows: [Row]
    let reference: String
    let totalSize: String
    let isEmpty: Bool
    let count: Int

    struct Row: Sendable {
        let id: String
        let shortId: String
        let tags: [String]
        let dangling: Bool
        let size: String
        let created: String
        let containers: Int
    }

    init(images: [ImageSummary], containers: [ContainerSummary], reference: String) {
        var users: [String: Int] = [:]
        for container in containers { if let image = container.imageID { users[image, default: 0] += 1 } }
        rows = images.sorted { ($0.created ?? 0) > ($1.created ?? 0) }.map { image in
            let tags = (image.repoTags ?? []).filter { $0 != "<none>:<none>" }
            return Row(
                id: image.id, shortId: String(image.id.replacingOccurrences(of: "sha256:", with: "").prefix(12)), tags: tags,
                dangling: tags.isEmpty, size: ByteCountFormatter.string(fromByteCount: image.size ?? 0, countStyle: .binary),
                created: image.created.map { ContainerRow.format(epochSeconds: $0) } ?? "",
                containers: users[image.id] ?? 0
            )
        }
        self.reference = reference
        totalSize = ByteCountFormatter.string(fromByteCount: images.reduce(0) { $0 + ($1.size ?? 0) }, countStyle: .binary)
        isEmpty = images.isEmpty
        count = images.count
    }
}

/// What `image.mustache` shows.
struct ImagePage: Sendable {
    let title: String
    let id: String
    let tags: [String]
    let created: DisplayTime?
    let author: String?
    let comment: String?
    let size: String
    let command: String
    let labels: [ContainerRow.Label]
    let history: [HistoryRow]

    struct HistoryRow: Sendable {
        let createdBy: String
        let size: String
        let created: String
        let comment: String?
    }

    init(_ image: ImageInspect, history: [ImageHistoryItem] = [], preferences: UserPreferences) {
        self.history = history.map {
            HistoryRow(
                createdBy: $0.createdBy ?? "", size: ByteCountFormatter.string(fromByteCount: $0.size ?? 0, countStyle: .binary),
                created: $0.created.map { ContainerRow.format(epochSeconds: $0) } ?? "", comment: $0.comment.flatMap { $0.isEmpty ? nil : $0 }
            )
        }
        id = image.id
        tags = image.repoTags ?? []
        title = tags.first ?? String(image.id.prefix(19))
        created = DisplayTime(engineTime: image.created, preferences: preferences)
        author = image.author.flatMap { $0.isEmpty ? nil : $0 }
        comment = image.comment.flatMap { $0.isEmpty ? nil : $0 }
        size = ByteCountFormatter.string(fromByteCount: image.size ?? 0, countStyle: .binary)
        command = ((image.config?.entrypoint ?? []) + (image.config?.cmd ?? [])).joined(separator: " ")
        labels = (image.config?.labels ?? [:]).sorted { $0.key < $1.key }.map { ContainerRow.Label(key: $0.key, value: $0.value) }
    }
}

/// What `images-prune.mustache` shows before a prune.
struct PrunePreviewPage: Sendable {
    let title = "Prune dangling images"
    let rows: [Row]
    let space: String
    let isEmpty: Bool

    struct Row: Sendable {
        let id: String
        let shortId: String
        let size: String
        let created: String
    }

    init(images: [ImageSummary]) {
        rows = images.map {
            Row(
                id: $0.id, shortId: String($0.id.replacingOccurrences(of: "sha256:", with: "").prefix(12)),
                size: ByteCountFormatter.string(fromByteCount: $0.size ?? 0, countStyle: .binary),
                created: $0.created.map { ContainerRow.format(epochSeconds: $0) } ?? ""
            )
        }
        space = ByteCountFormatter.string(fromByteCount: images.reduce(0) { $0 + ($1.size ?? 0) }, countStyle: .binary)
        isEmpty = images.isEmpty
    }
}
