import BerthStore
import Foundation

/// The console page: the container, and what the form starts the console with.
struct ConsolePage: Sendable {
    let id: String
    let name: String
    let running: Bool
    let command: String
    let user: String
    let workdir: String
    /// Why no console can be opened from this server (no terminal library); nil when it can.
    let unavailable: String?
}

struct ConsoleReplayPage: Sendable {
    let id: String
    let actor: String
    let container: String
    let containerName: String
    let started: DisplayTime
    let ended: DisplayTime?
    let size: String
    let truncated: Bool
    let inProgress: Bool
    let sha256: String?

    init(_ recording: ConsoleRecording, preferences: UserPreferences) {
        id = recording.id.map(String.init) ?? ""
        actor = recording.actor
        container = recording.container
        containerName = recording.containerName
        started = DisplayTime(recording.startedAt, preferences: preferences)
        ended = recording.endedAt.map { DisplayTime($0, preferences: preferences) }
        size = ByteCountFormatter.string(fromByteCount: Int64(recording.bytes), countStyle: .binary)
        truncated = recording.truncated
        inProgress = recording.endedAt == nil
        sha256 = recording.sha256
    }
}
