import BerthStore
import NIOConcurrencyHelpers

/// The last update check's findings in memory, for the pages that mark containers ("update available") without a
/// database read per page. Loaded at start, replaced after each check.
final class UpdateMarks: Sendable {
    private let findings = NIOLockedValueBox<[String: ImageUpdate]>([:])

    func replace(with updates: [ImageUpdate]) {
        let byKey = Dictionary(updates.map { ($0.key, $0) }) { first, _ in first }
        findings.withLockedValue { $0 = byKey }
    }

    /// What the last check found for a container started from `reference` that runs `imageId`.
    func finding(reference: String?, imageId: String?) -> ImageUpdate? {
        guard let reference, let imageId else { return nil }
        return findings.withLockedValue { $0[ImageUpdate.key(reference: reference, imageId: imageId)] }
    }

    /// Whether a container of the list has a newer image. The list names an image by id once its tag moved to another
    /// image; then any finding for that image counts.
    func updateAvailable(reference: String?, imageId: String?) -> Bool {
        guard let imageId else { return false }
        if let reference, !reference.hasPrefix("sha256:"), !imageId.dropFirst(7).hasPrefix(reference) {
            return finding(reference: reference, imageId: imageId)?.state == .available
        }
        return findings.withLockedValue { $0.values.contains { $0.imageId == imageId && $0.state == .available } }
    }
}
