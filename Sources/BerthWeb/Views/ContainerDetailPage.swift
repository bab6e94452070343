import BerthStore
import EngineAPI
import Foundation

/// What `container.mustache` shows of one container.
struct ContainerDetailPage: Sendable {
    let title: String
    let id: String
    let shortId: String
    let name: String
    let image: String
    let command: String
    let state: String
    let health: String?
    let exitCode: Int?
    let stateError: String?
    let created: DisplayTime?
    let startedAt: DisplayTime?
    let finishedAt: DisplayTime?
    let restartCount: Int
    let restartPolicy: String?
    let tty: Bool
    let ports: [String]
    let mounts: [MountRow]
    let networks: [NetworkRow]
    let labels: [ContainerRow.Label]
    let environment: [EnvironmentRow]
    /// Whether env values are shown (admins, on request).
    let environmentRevealed: Bool
    let canRevealEnvironment: Bool
    let isRunning: Bool
    let isPaused: Bool
    /// What the last update check found for its image, if it looked.
    var update: UpdateState?

    struct UpdateState: Sendable {
        let state: String
        let words: String
        let detail: String?

        init(_ finding: ImageUpdate) {
            state = finding.state.rawValue
            switch finding.state {
            case .available:
                words = "update available"
                detail = "the registry has \(UpdatesController.short(finding.remoteDigest ?? "")), this runs \(UpdatesController.short(finding.localDigest ?? ""))"
            case .current:
                words = "up to date"
                detail = nil
            case .unknown:
                words = "not from a registry"
                detail = finding.message
            case .failed:
                words = "update check failed"
                detail = finding.message
            }
        }
    }

    struct MountRow: Sendable {
        let type: String
        let source: String
        let destination: String
        let mode: String
    }

    struct NetworkRow: Sendable {
        let name: String
        let ipAddress: String
    }

    struct EnvironmentRow: Sendable {
        let key: String
        /// Nil when masked.
        let value: String?
    }

    init(_ inspect: ContainerInspect, revealEnvironment: Bool, canRevealEnvironment: Bool, preferences: UserPreferences = .init()) {
        id = inspect.id
        shortId = String(inspect.id.prefix(12))
        name = inspect.displayName
        title = inspect.displayName
        image = inspect.config?.image ?? inspect.image ?? ""
        command = ([inspect.path ?? ""] + (inspect.args ?? [])).filter { !$0.isEmpty }.joined(separator: " ")
        let state = inspect.state
        self.state = state?.status ?? "unknown"
        health = state?.health?.status
        exitCode = state?.running == true ? nil : state?.exitCode
        stateError = state?.error.flatMap { $0.isEmpty ? nil : $0 }
        created = DisplayTime(engineTime: inspect.created, preferences: preferences)
        startedAt = DisplayTime(engineTime: state?.startedAt, preferences: preferences)
        finishedAt = DisplayTime(engineTime: state?.finishedAt, preferences: preferences)
        restartCount = inspect.restartCount ?? 0
        restartPolicy = inspect.hostConfig?.restartPolicy?.name.flatMap { $0.isEmpty || $0 == "no" ? nil : $0 }
        tty = inspect.config?.tty ?? false
        ports = (inspect.networkSettings?.ports ?? [:]).sorted { $0.key < $1.key }.flatMap { port, bindings -> [String] in
            guard let bindings, !bindings.isEmpty else { return [port] }
            return bindings.map { "\($0.hostIP.flatMap { $0.isEmpty ? nil : $0 } ?? "0.0.0.0"):\($0.hostPort ?? "")→\(port)" }
        }
        mounts = (inspect.mounts ?? []).map {
            MountRow(
                type: $0.type ?? "", source: $0.name ?? $0.source ?? "", destination: $0.destination ?? "",
                mode: $0.readWrite == false ? "ro" : "rw"
            )
        }
        networks = (inspect.networkSettings?.networks ?? [:]).sorted { $0.key < $1.key }.map {
            NetworkRow(name: $0.key, ipAddress: $0.value.ipAddress ?? "")
        }
        labels = (inspect.config?.labels ?? [:]).sorted { $0.key < $1.key }.map { ContainerRow.Label(key: $0.key, value: $0.value) }
        environment = (inspect.config?.env ?? []).map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            return EnvironmentRow(key: key, value: revealEnvironment ? value : nil)
        }
        environmentRevealed = revealEnvironment
        self.canRevealEnvironment = canRevealEnvironment
        isRunning = state?.running == true && state?.paused != true
        isPaused = state?.paused == true
    }

    /// `2026-11-22T16:23:20.505288635Z` → `2026-11-22 16:23:20 UTC`; the zero time Docker uses for "never" → nil.
    static func displayTime(_ text: String?) -> String? {
        guard let text, text.count >= 19, !text.hasPrefix("0001-") else { return nil }
        let prefix = text.prefix(19).replacingOccurrences(of: "T", with: " ")
        return prefix + " UTC"
    }
}

/// The result of one action on one container, for the bulk result page.
struct ActionResultRow: Sendable {
    let name: String
    let id: String
    let ok: Bool
    let message: String
}

struct BulkResultPage: Sendable {
    let title: String
    let rows: [ActionResultRow]
    let okCount: Int
    let failedCount: Int
}
