import EngineAPI

/// Which mounts reach beyond a container's own storage, and so are for admins only. Every path that creates mounts
/// (the run form today; compose and services later) asks this one check.
///
/// A host path is a bind mount. A named volume is looked up: one an admin made with driver options
/// (`type=none,o=bind,device=/some/dir` binds a host folder; `type=nfs` reaches network storage) or with a driver
/// other than `local` reaches whatever that driver reaches. A volume that does not exist yet is created by the
/// engine as a plain local one, which reaches nothing.
struct MountPolicy: Sendable {
    let engine: EngineClient

    /// A mount's source: a host path or a volume name.
    struct Source: Sendable, Equatable {
        let name: String
        var isHostPath: Bool { name.hasPrefix("/") }
    }

    /// The local driver's options that keep a volume inside the engine's own storage: a tmpfs of a given size.
    static func isContained(_ volume: Volume) -> Bool {
        guard (volume.driver ?? "local") == "local" else { return false }
        let options = volume.options ?? [:]
        if options.isEmpty { return true }
        // `type=tmpfs` (memory) with tmpfs's own mount options, and no device.
        guard options["type"] == "tmpfs", options["device"].map({ $0.isEmpty || $0 == "tmpfs" }) ?? true else { return false }
        let mountOptions = (options["o"] ?? "").split(separator: ",").map { $0.split(separator: "=").first.map(String.init) ?? "" }
        return Set(mountOptions).isSubset(of: ["size", "mode", "uid", "gid", "nr_inodes", "noexec", "nosuid", "nodev", ""])
    }

    /// What in `sources` only an admin may mount, each with why (empty when nothing). Throws when the engine can't
    /// say (a volume that can't be inspected is never assumed safe).
    func adminOnly(_ sources: [Source]) async throws -> [String] {
        var reasons: [String] = []
        for source in sources {
            if source.isHostPath {
                if !reasons.contains("bind mount") { reasons.append("bind mount") }
                if source.name.hasSuffix("docker.sock"), !reasons.contains("engine socket mount") { reasons.append("engine socket mount") }
                continue
            }
            guard let volume = try await engine.inspectVolume(source.name), !Self.isContained(volume) else { continue }
            let options = (volume.options ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            reasons.append("volume \(source.name) (driver \(volume.driver ?? "local")\(options.isEmpty ? "" : ", \(options)"))")
        }
        return reasons
    }
}
