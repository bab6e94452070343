import EngineAPI
import Foundation

/// A pull's progress folded per layer: the engine sends one line per change of one layer; the job's page shows one
/// bar for the whole image and a line per layer.
struct PullProgress: Sendable, Equatable {
    private(set) var layers: [JobItem] = []
    /// Lines about the image as a whole ("Pulling from …", "Digest: …", "Status: …").
    private(set) var notes: [String] = []
    /// How many notes came in all (`notes` keeps the last 20).
    private(set) var notesSeen = 0
    private(set) var digest: String?
    private(set) var error: String?

    /// Folds one line in; returns whether the page should hear about it.
    @discardableResult
    mutating func apply(_ message: PullProgressMessage) -> Bool {
        if let failure = message.errorMessage {
            error = failure
            return true
        }
        guard let status = message.status else { return false }
        guard let id = message.id, !id.isEmpty, !status.hasPrefix("Pulling from"), !Self.isImageWide(status) else {
            if status.hasPrefix("Digest: ") { digest = String(status.dropFirst(8)) }
            notes.append(status)
            notesSeen += 1
            if notes.count > 20 { notes.removeFirst() }
            return true
        }
        let index: Int
        if let found = layers.firstIndex(where: { $0.id == id }) {
            index = found
        } else {
            // A layer count is small (tens); a hostile registry could send thousands of ids: stop listing them.
            guard layers.count < 500 else { return false }
            layers.append(JobItem(id: id, status: status, current: nil, total: nil, done: false))
            index = layers.count - 1
        }
        layers[index].status = status
        switch status {
        case "Downloading":
            layers[index].current = message.progressDetail?.current
            if let total = message.progressDetail?.total, total > 0 { layers[index].total = total }
        case "Download complete", "Verifying Checksum":
            if let total = layers[index].total { layers[index].current = total }
        case "Pull complete", "Already exists":
            layers[index].done = true
            if let total = layers[index].total { layers[index].current = total }
        default:
            break
        }
        return true
    }

    private static func isImageWide(_ status: String) -> Bool {
        status.hasPrefix("Digest:") || status.hasPrefix("Status:")
    }

    /// Downloaded bytes of the layers whose size is known, and their total.
    var bytes: (current: Int64, total: Int64) {
        layers.reduce((Int64(0), Int64(0))) { sum, layer in
            guard let total = layer.total else { return sum }
            return (sum.0 + min(layer.current ?? 0, total), sum.1 + total)
        }
    }

    var layersDone: Int { layers.filter(\.done).count }
}
