import EngineAPI
import Foundation

/// Makes containers and puts a new one in an old one's place, under its name: the old one stopped and renamed aside,
/// its successor made (its further networks joined) and started, and only then the old one removed — its volumes
/// stay, the successor mounts them. Anything failing before that puts the old one back as it was (its name, running
/// again if it ran), also when the job was cancelled: nothing is left stopped or half-renamed. The one way
/// pull-and-recreate and compose deploys make and replace a container.
struct ContainerReplacement: Sendable {
    let engine: EngineClient
    /// One line per step, for the job's log.
    let log: @Sendable (String) -> Void

    /// A container to make.
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
    static func isAside(_ name: String) -> Bool {
        name.wholeMatch(of: /.+-berth-old-[0-9a-f]{8}/) != nil
    }

    /// Creates the container, joins its further networks and starts it (when asked); its id. One that could not be
    /// finished is removed — also when the job was cancelled — so that nothing half made is taken for a finished one.
    func make(_ successor: Successor) async throws -> String {
        let created = try await engine.createContainer(body: successor.body, name: successor.name).id
        do {
            for network in successor.moreNetworks {
                try await engine.connectNetwork(network.name, container: created, endpoint: network.endpoint)
            }
            if successor.start {
                log("Starting \(successor.name)…")
                try await engine.startContainer(created)
            }
        } catch {
            let engine = self.engine
            await Task { _ = try? await engine.removeContainer(created, force: true) }.value
            throw error
        }
        return created
    }

    /// Replaces container `id` (named `name`, running or not) by `successor`; the successor's id.
    @discardableResult
    func replace(_ id: String, name: String, wasRunning: Bool, with successor: Successor) async throws -> String {
        let aside = Self.asideName(name, id: id)
        var renamed = false
        do {
            if wasRunning {
                log("Stopping \(name)…")
                try await engine.stopContainer(id, timeout: 10)
            }
            try await engine.renameContainer(id, to: aside)
            renamed = true
            log("Creating \(successor.name)…")
            let created = try await make(successor)
            await removeOld(id, aside: aside)
            return created
        } catch {
            log("Failed (\(AuditTrail.message(for: error))); putting \(name) back.")
            if let problem = await putBack(id, name: name, renamed: renamed, wasRunning: wasRunning) {
                log(problem)
                throw AuditTrail.ActionFailure("\(AuditTrail.message(for: error)); and \(problem)")
            }
            throw error
        }
    }

    /// The old container under its name again, running if it ran — in a task of its own, so that a cancelled job puts
    /// it back too. Whatever holds its name meanwhile (a successor the engine made though its request failed) goes
    /// first. What could not be put back, in words.
    private func putBack(_ id: String, name: String, renamed: Bool, wasRunning: Bool) async -> String? {
        let engine = self.engine
        return await Task { () -> String? in
            if renamed {
                if let holder = try? await engine.inspectContainer(name), holder.id != id {
                    _ = try? await engine.removeContainer(holder.id, force: true)
                }
                do {
                    try await engine.renameContainer(id, to: name)
                } catch {
                    return "the old container could not get its name \(name) back (\(AuditTrail.message(for: error))): it is \(Self.asideName(name, id: id))"
                }
            }
            if wasRunning {
                do {
                    try await engine.startContainer(id)
                } catch {
                    return "the old container \(name) could not be started again (\(AuditTrail.message(for: error)))"
                }
            }
            return nil
        }.value
    }

    /// The new one runs: the old one goes whatever happens to the job now; if it can't, the log says so.
    private func removeOld(_ id: String, aside: String) async {
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
    }
}
