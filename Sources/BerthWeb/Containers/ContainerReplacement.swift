import EngineAPI
import Foundation

/// Puts a new container in an old one's place, under its name: the old one stopped and renamed aside, its successor
/// made (its further networks joined) and started, and only then the old one removed — its volumes stay, the
/// successor mounts them. Anything failing before that puts the old one back as it was (its name, running again if it
/// ran), also when the job was cancelled: nothing is left stopped or half-renamed. The one way pull-and-recreate and
/// compose deploys replace a container.
struct ContainerReplacement: Sendable {
    let engine: EngineClient
    /// One line per step, for the job's log.
    let log: @Sendable (String) -> Void

    /// What takes the old container's place.
    struct Successor: Sendable {
        let name: String
        /// The `POST /containers/create` body.
        let body: Data
        /// Networks joined once it exists (an engine before API 1.44 takes one in a create request), each with its
        /// `EndpointConfig` JSON.
        let moreNetworks: [(name: String, endpoint: Data)]
        let start: Bool
    }

    /// What an old container is renamed to while its successor is made.
    static func asideName(_ name: String, id: String) -> String { "\(name)-berth-old-\(id.prefix(8))" }

    /// Whether a name is one `replace` gave an old container (left behind when its removal failed).
    static func isAside(_ name: String) -> Bool { name.contains("-berth-old-") }

    /// Replaces container `id` (named `name`, running or not) by `successor`; the successor's id.
    @discardableResult
    func replace(_ id: String, name: String, wasRunning: Bool, with successor: Successor) async throws -> String {
        let aside = Self.asideName(name, id: id)
        var renamed = false
        var created: String?
        do {
            if wasRunning {
                log("Stopping \(name)…")
                try await engine.stopContainer(id, timeout: 10)
            }
            try await engine.renameContainer(id, to: aside)
            renamed = true
            log("Creating \(successor.name)…")
            let new = try await engine.createContainer(body: successor.body, name: successor.name)
            created = new.id
            for network in successor.moreNetworks {
                try await engine.connectNetwork(network.name, container: new.id, endpoint: network.endpoint)
            }
            if successor.start {
                log("Starting \(successor.name)…")
                try await engine.startContainer(new.id)
            }
        } catch {
            log("Failed (\(AuditTrail.message(for: error))); putting \(name) back.")
            let engine = self.engine
            // Put back even when the job was cancelled: the old container must not stay stopped or renamed aside.
            await Task { [created, renamed] in
                if let created { try? await engine.removeContainer(created, force: true) }
                if renamed { try? await engine.renameContainer(id, to: name) }
                if wasRunning { _ = try? await engine.startContainer(id) }
            }.value
            throw error
        }
        // The new one runs: the old one goes whatever happens to the job now; if it can't, the log says so.
        log("Removing the old container (its volumes stay)…")
        let engine = self.engine
        let removal = await Task { () -> String? in
            do {
                try await engine.removeContainer(id, force: true)
                return nil
            } catch {
                return AuditTrail.message(for: error)
            }
        }.value
        if let removal { log("The old container \(aside) could not be removed (\(removal)); remove it by hand.") }
        return created ?? ""
    }
}
