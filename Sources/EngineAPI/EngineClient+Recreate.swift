import Foundation
import NIOCore
import NIOHTTP1

/// How to make a container again from another image with the same configuration: what "pull and recreate" creates.
public struct RecreatePlan: Sendable {
    public let name: String
    /// The `POST /containers/create` body: the old container's configuration, the new image.
    public let body: Data
    /// Networks beyond the first (created with it), connected after creation, each with what was asked of it
    /// (aliases, addresses, links) as `EndpointConfig` JSON.
    public let moreNetworks: [(name: String, endpoint: Data)]
    public let wasRunning: Bool
}

extension EngineClient {
    /// The old container's configuration as `POST /containers/create` takes it, with `image` in place of its image.
    ///
    /// What the old image put into the configuration (its environment, labels, command, entrypoint, working folder,
    /// ports and volumes, which the engine merges in at creation) is left out, so the new image's own apply; what the
    /// person set is kept. Anonymous volumes are mounted again by name, so their data stays with the container.
    public func recreatePlan(for id: String, image: String) async throws -> RecreatePlan {
        let body = try await transport.collect(
            EngineRequest(path: "/containers/\(Self.pathComponent(id))/json"), version: apiVersion(), limit: Self.documentLimit
        )
        guard let inspect = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              var config = inspect["Config"] as? [String: Any], var hostConfig = inspect["HostConfig"] as? [String: Any] else {
            throw EngineError.invalidResponse("the container's configuration cannot be read")
        }
        let fullId = inspect["Id"] as? String ?? id
        var imageConfig: [String: Any] = [:]
        if let oldImage = inspect["Image"] as? String, let old = try? await inspectImageRaw(oldImage) {
            imageConfig = old["Config"] as? [String: Any] ?? [:]
        }

        config["Image"] = image
        if config["Hostname"] as? String == String(fullId.prefix(12)) { config["Hostname"] = nil }
        if let env = config["Env"] as? [String] {
            let inherited = Set(imageConfig["Env"] as? [String] ?? [])
            config["Env"] = env.filter { !inherited.contains($0) }
        }
        if var labels = config["Labels"] as? [String: String] {
            for (key, value) in imageConfig["Labels"] as? [String: String] ?? [:] where labels[key] == value { labels[key] = nil }
            config["Labels"] = labels
        }
        for key in ["Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal"] {
            if let value = config[key], Self.same(value, imageConfig[key]) { config[key] = nil }
        }
        for key in ["ExposedPorts", "Volumes"] {
            guard var own = config[key] as? [String: Any] else { continue }
            for inherited in (imageConfig[key] as? [String: Any] ?? [:]).keys { own[inherited] = nil }
            config[key] = own.isEmpty ? nil : own
        }

        // Anonymous volumes (the image's VOLUMEs, `-v /data`) by name, unless a bind or mount already covers the spot.
        var binds = hostConfig["Binds"] as? [String] ?? []
        var mounts = hostConfig["Mounts"] as? [[String: Any]] ?? []
        // A `--mount type=volume,target=…` without a source is an anonymous volume too: named, so the data stays.
        let volumeNames = Dictionary(
            (inspect["Mounts"] as? [[String: Any]] ?? []).compactMap { mount -> (String, String)? in
                guard mount["Type"] as? String == "volume", let name = mount["Name"] as? String,
                      let destination = mount["Destination"] as? String else { return nil }
                return (destination, name)
            }
        ) { first, _ in first }
        for index in mounts.indices where mounts[index]["Type"] as? String == "volume" && (mounts[index]["Source"] as? String ?? "").isEmpty {
            if let target = mounts[index]["Target"] as? String, let name = volumeNames[target] { mounts[index]["Source"] = name }
        }
        if !mounts.isEmpty { hostConfig["Mounts"] = mounts }
        let covered = Set(binds.compactMap { $0.split(separator: ":").dropFirst().first.map(String.init) })
            .union(mounts.compactMap { $0["Target"] as? String })
        for mount in inspect["Mounts"] as? [[String: Any]] ?? [] {
            guard mount["Type"] as? String == "volume", let name = mount["Name"] as? String,
                  let destination = mount["Destination"] as? String, !covered.contains(destination) else { continue }
            binds.append("\(name):\(destination)" + ((mount["RW"] as? Bool) == false ? ":ro" : ""))
        }
        hostConfig["Binds"] = binds.isEmpty ? nil : binds

        var request = config
        request["HostConfig"] = hostConfig
        let networks = (inspect["NetworkSettings"] as? [String: Any])?["Networks"] as? [String: Any] ?? [:]
        let mode = hostConfig["NetworkMode"] as? String ?? ""
        let names = networks.keys.sorted { ($0 == mode ? 0 : 1, $0) < ($1 == mode ? 0 : 1, $1) }
        // What the engine assigned (addresses, ids, its own alias) is assigned anew; what was asked for stays.
        func asked(_ network: String) -> [String: Any] {
            guard let endpoint = networks[network] as? [String: Any] else { return [:] }
            var kept: [String: Any] = [:]
            if let ipam = endpoint["IPAMConfig"], !(ipam is NSNull) { kept["IPAMConfig"] = ipam }
            if var aliases = endpoint["Aliases"] as? [String] {
                aliases.removeAll { $0 == String(fullId.prefix(12)) }
                if !aliases.isEmpty { kept["Aliases"] = aliases }
            }
            if let links = endpoint["Links"], !(links is NSNull) { kept["Links"] = links }
            return kept
        }
        if let first = names.first {
            request["NetworkingConfig"] = ["EndpointsConfig": [first: asked(first)]]
        }
        let more = try names.dropFirst().map { (name: $0, endpoint: try JSONSerialization.data(withJSONObject: asked($0))) }
        let name = (inspect["Name"] as? String ?? "").drop { $0 == "/" }
        let running = ((inspect["State"] as? [String: Any])?["Running"] as? Bool) ?? false
        return RecreatePlan(
            name: String(name), body: try JSONSerialization.data(withJSONObject: request, options: [.sortedKeys]),
            moreNetworks: more, wasRunning: running
        )
    }

    /// `POST /containers/create` with a body made elsewhere (a recreate plan).
    public func createContainer(body: Data, name: String) async throws -> ContainerCreateResponse {
        try await decode(
            ContainerCreateResponse.self, EngineRequest(method: .POST, path: "/containers/create", query: [("name", name)], body: body)
        )
    }

    func inspectImageRaw(_ id: String) async throws -> [String: Any]? {
        let body = try await transport.collect(
            EngineRequest(path: "/images/\(Self.pathComponent(id))/json"), version: apiVersion(), limit: Self.documentLimit
        )
        return try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
    }

    static func same(_ left: Any?, _ right: Any?) -> Bool {
        switch (left, right) {
        case (nil, nil): true
        case (let left as [String], let right as [String]): left == right
        case (let left as String, let right as String): left == right
        default: false
        }
    }
}
