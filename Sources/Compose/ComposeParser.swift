import Foundation
import Yams

/// Reads a compose file into a `ComposeProject`: YAML through Yams (its nodes know their lines), values interpolated,
/// every key checked. A key Berth does not support is an error naming it and its line, never dropped; all errors are
/// gathered, so an editor can show each at its line.
public struct ComposeParser: Sendable {
    /// `.env` and the project's variables: what `${VAR}` reads.
    public var variables: [String: String]
    /// Relative paths (bind mounts, `env_file`) are relative to it.
    public var projectDirectory: String
    /// Reads an `env_file` (an absolute path); nil when it can't.
    public var readFile: @Sendable (String) -> String?

    public init(variables: [String: String], projectDirectory: String, readFile: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.variables = variables
        self.projectDirectory = projectDirectory
        self.readFile = readFile
    }

    public func parse(_ yaml: String) throws(ComposeErrors) -> ComposeProject {
        let reader = Reader(parser: self)
        let project = reader.read(yaml)
        guard reader.issues.isEmpty, let project else {
            throw ComposeErrors(issues: reader.issues.isEmpty ? [ComposeIssue("the file could not be read", line: nil)] : reader.issues)
        }
        return project
    }

    static let serviceKeys: Set<String> = [
        "image", "command", "entrypoint", "environment", "env_file", "ports", "volumes", "networks", "depends_on", "restart",
        "labels", "healthcheck", "user", "working_dir", "network_mode", "tty", "stdin_open", "cap_add", "privileged", "deploy",
        "profiles", "container_name", "hostname",
    ]
}

/// One reading of one file: the issues found on the way.
private final class Reader {
    let parser: ComposeParser
    let interpolation: Interpolation
    var issues: [ComposeIssue] = []
    var warnings: [ComposeIssue] = []
    var warnedUnset: Set<String> = []

    init(parser: ComposeParser) {
        self.parser = parser
        interpolation = Interpolation(variables: parser.variables)
    }

    func fail(_ message: String, _ node: Node?) {
        issues.append(ComposeIssue(message, line: node?.mark?.line))
    }

    func read(_ yaml: String) -> ComposeProject? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            issues.append(Self.issue(error))
            return nil
        } catch {
            issues.append(ComposeIssue("\(error)", line: nil))
            return nil
        }
        guard let root, let top = pairs(root, "the file") else {
            if issues.isEmpty { issues.append(ComposeIssue("the file is empty: it needs services:", line: nil)) }
            return nil
        }
        var project = ComposeProject(name: nil, services: [], volumes: [], networks: [], warnings: [])
        var servicesNode: Node?
        for (key, value) in top {
            switch key {
            case "services": servicesNode = value
            case "name": project.name = string(value, "name")
            case "version": warnings.append(ComposeIssue("version: is obsolete and ignored", line: value.mark?.line))
            case "volumes": project.volumes = topLevel(value, "volumes").map(volume)
            case "networks": project.networks = topLevel(value, "networks").map(network)
            case _ where key.hasPrefix("x-"): break
            default: fail("\(key): is not supported by Berth (it supports services, volumes, networks, name)", value)
            }
        }
        guard let servicesNode, let services = pairs(servicesNode, "services") else {
            if issues.isEmpty { fail("the file has no services:", root) }
            return nil
        }
        for (name, node) in services {
            if let service = service(name, node) { project.services.append(service) }
        }
        check(&project)
        project.warnings = warnings
        return project
    }

    static func issue(_ error: YamlError) -> ComposeIssue {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ComposeIssue("not valid YAML: \(problem)", line: mark.line)
        default:
            return ComposeIssue("not valid YAML: \(error)", line: nil)
        }
    }

    // MARK: Nodes

    /// A mapping's pairs with string keys, `<<` merges applied (keys of its own win).
    func pairs(_ node: Node, _ what: String) -> [(String, Node)]? {
        guard let mapping = node.mapping else {
            fail("\(what) must be a mapping (key: value)", node)
            return nil
        }
        var own: [(String, Node)] = []
        var merged: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                fail("\(what): a key must be text", key)
                continue
            }
            if name == "<<" {
                for source in value.sequence.map(Array.init) ?? [value] {
                    merged += pairs(source, what) ?? []
                }
            } else {
                own.append((name, value))
            }
        }
        let ownKeys = Set(own.map(\.0))
        return merged.filter { !ownKeys.contains($0.0) } + own
    }

    /// A scalar's text with `${…}` put in.
    func string(_ node: Node, _ what: String) -> String? {
        guard let scalar = node.scalar else {
            fail("\(what) must be a single value", node)
            return nil
        }
        if node.tag.rawValue == Tag.Name.null.rawValue, scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" {
            return nil
        }
        do {
            let result = try interpolation.interpolate(scalar.string)
            for name in result.unset where warnedUnset.insert(name).inserted {
                warnings.append(ComposeIssue("\(name) is not set; it counts as empty", line: node.mark?.line))
            }
            return result.text
        } catch {
            fail("\(what): \(error.message)", node)
            return nil
        }
    }

    func bool(_ node: Node, _ what: String) -> Bool {
        guard let text = string(node, what) else { return false }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail("\(what) must be true or false", node)
            return false
        }
    }

    func int(_ node: Node, _ what: String) -> Int? {
        guard let text = string(node, what) else { return nil }
        guard let value = Int(text), value >= 0 else {
            fail("\(what) must be a whole number", node)
            return nil
        }
        return value
    }

    /// A list of strings.
    func strings(_ node: Node, _ what: String) -> [String] {
        guard let sequence = node.sequence else {
            fail("\(what) must be a list", node)
            return []
        }
        return sequence.compactMap { string($0, what) }
    }

    /// `KEY: value` pairs, or a list of `KEY=value` (a bare `KEY` takes the variable's value, and is left out when unset).
    func keyValues(_ node: Node, _ what: String, fromVariables: Bool) -> [String: String] {
        var result: [String: String] = [:]
        if let sequence = node.sequence {
            for item in sequence {
                guard let text = string(item, what) else { continue }
                if let equals = text.firstIndex(of: "=") {
                    result[String(text[..<equals])] = String(text[text.index(after: equals)...])
                } else if fromVariables {
                    if let value = parser.variables[text] { result[text] = value }
                } else {
                    result[text] = ""
                }
            }
        } else if let mapping = pairs(node, what) {
            for (key, value) in mapping {
                if let text = string(value, "\(what).\(key)") {
                    result[key] = text
                } else if fromVariables, let variable = parser.variables[key] {
                    result[key] = variable
                } else if !fromVariables {
                    result[key] = ""
                }
            }
        }
        return result
    }

    /// A command as the file gives it: a list as it is, a string split as a shell would (quotes, backslashes).
    func command(_ node: Node, _ what: String) -> [String]? {
        if node.sequence != nil { return strings(node, what) }
        guard let text = string(node, what) else { return nil }
        do {
            return try CommandLineSplitter.split(text)
        } catch {
            fail("\(what): \(error.message)", node)
            return nil
        }
    }

    // MARK: Services

    func service(_ name: String, _ node: Node) -> ComposeService? {
        guard Self.isValidName(name) else {
            fail("“\(name)” is not a service name (letters, digits, -, _ and ., starting with a letter or digit)", node)
            return nil
        }
        guard let keys = pairs(node, name) else { return nil }
        var service = ComposeService(name: name, image: "")
        var hasImage = false
        for (key, value) in keys {
            service.lines[key] = value.mark?.line
            let what = "\(name).\(key)"
            switch key {
            case "image":
                service.image = string(value, what) ?? ""
                hasImage = !service.image.isEmpty
            case "command": service.command = command(value, what)
            case "entrypoint": service.entrypoint = command(value, what)
            case "environment":
                service.environment.merge(keyValues(value, what, fromVariables: true)) { _, new in new }
            case "env_file":
                // Read first: `environment:` wins over any file, whatever the order of the keys.
                let fromFiles = envFiles(value, what)
                service.environment.merge(fromFiles) { own, _ in own }
            case "ports": service.ports = ports(value, what)
            case "volumes": service.volumes = mounts(value, what)
            case "networks": service.networks = serviceNetworks(value, what)
            case "depends_on": service.dependsOn = dependsOn(value, what)
            case "restart": restart(value, what, into: &service)
            case "labels": service.labels = keyValues(value, what, fromVariables: false)
            case "healthcheck": service.healthcheck = healthcheck(value, what)
            case "user": service.user = string(value, what)
            case "working_dir": service.workingDir = string(value, what)
            case "network_mode": service.networkMode = string(value, what)
            case "tty": service.tty = bool(value, what)
            case "stdin_open": service.stdinOpen = bool(value, what)
            case "cap_add": service.capAdd = strings(value, what)
            case "privileged": service.privileged = bool(value, what)
            case "deploy": service.replicas = deploy(value, what) ?? 1
            case "profiles": service.profiles = strings(value, what)
            case "container_name": service.containerName = string(value, what)
            case "hostname": service.hostname = string(value, what)
            case _ where key.hasPrefix("x-"): break
            case "build":
                fail("\(what): Berth does not build images; push the image to a registry and name it with image:", value)
            default:
                fail("\(what): is not supported by Berth", value)
            }
        }
        if !hasImage, !keys.contains(where: { $0.0 == "build" }) { fail("\(name) needs an image:", node) }
        // env_file's values fill in what environment: did not set, wherever the keys stand.
        return service
    }

    /// `env_file:` as one path, a list of paths, or a list mixing paths and `{path:, required:}`. A file that can't be
    /// read is an error unless it says `required: false` (then it is skipped, as the compose CLI does). Later files win.
    func envFiles(_ node: Node, _ what: String) -> [String: String] {
        var files: [(path: String, required: Bool, node: Node)] = []
        if node.scalar != nil {
            if let path = string(node, what) { files.append((path, true, node)) }
        } else if let sequence = node.sequence {
            for item in sequence {
                if item.mapping != nil {
                    if let file = envFile(item, what) { files.append((file.path, file.required, item)) }
                } else if let path = string(item, what) {
                    files.append((path, true, item))
                }
            }
        } else {
            fail("\(what) must be a path or a list", node)
        }
        var environment: [String: String] = [:]
        for file in files {
            guard let text = parser.readFile(absolute(file.path)) else {
                if file.required { fail("\(what): \(file.path) can't be read", file.node) }
                continue
            }
            do {
                for (key, value) in try DotEnv.parse(text) { environment[key] = value }
            } catch {
                fail("\(what): \(file.path) line \(error.line): \(error.message)", file.node)
            }
        }
        return environment
    }

    /// The long form of an `env_file:` item: `path:` and `required:` (true unless it says otherwise).
    func envFile(_ node: Node, _ what: String) -> (path: String, required: Bool)? {
        guard let keys = pairs(node, what) else { return nil }
        var path: String?
        var required = true
        for (key, value) in keys {
            switch key {
            case "path": path = string(value, "\(what).path")
            case "required": required = bool(value, "\(what).required")
            default: fail("\(what).\(key): is not supported by Berth", value)
            }
        }
        guard let path, !path.isEmpty else {
            fail("\(what): an item needs a path:", node)
            return nil
        }
        return (path, required)
    }

    func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        return URL(fileURLWithPath: parser.projectDirectory).appendingPathComponent(path).standardizedFileURL.path
    }

    /// `8080:80`, `127.0.0.1:8080:80/udp`, `[::1]:8080:80`, `80` (a port the engine picks on the host).
    func port(_ text: String, _ node: Node, _ what: String) -> ComposeService.Port? {
        var spec = text
        var proto = "tcp"
        if let slash = spec.lastIndex(of: "/") {
            proto = String(spec[spec.index(after: slash)...]).lowercased()
            spec = String(spec[..<slash])
        }
        guard ["tcp", "udp", "sctp"].contains(proto) else {
            fail("\(what): “\(text)” has an unknown protocol", node)
            return nil
        }
        var hostIP: String?
        // An IPv6 address is in brackets, its colons are not the separators; the model has it without them.
        if spec.hasPrefix("[") {
            guard let close = spec.firstIndex(of: "]"), close > spec.index(after: spec.startIndex),
                  case let rest = spec[spec.index(after: close)...], rest.hasPrefix(":"), rest.dropFirst().contains(":") else {
                fail("\(what): “\(text)” is not [IPv6]:host:container", node)
                return nil
            }
            hostIP = String(spec[spec.index(after: spec.startIndex)..<close])
            spec = String(rest.dropFirst())
        }
        var parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if hostIP == nil, parts.count == 3 {
            hostIP = parts.removeFirst()
        }
        guard parts.count <= 2, let container = Self.portNumber(parts.last ?? "") else {
            fail("\(what): “\(text)” is not host:container (port ranges are not supported)", node)
            return nil
        }
        var host: Int?
        if parts.count == 2, !parts[0].isEmpty {
            guard let number = Self.portNumber(parts[0]) else {
                fail("\(what): “\(parts[0])” is not a port (ranges are not supported)", node)
                return nil
            }
            host = number
        }
        return ComposeService.Port(hostIP: hostIP, hostPort: host, containerPort: container, proto: proto)
    }

    static func portNumber(_ text: String) -> Int? {
        guard let value = Int(text), (1...65535).contains(value) else { return nil }
        return value
    }

    /// `ports:` in the file's order, each item short (`8080:80`) or long (`target:`, `published:`, …).
    func ports(_ node: Node, _ what: String) -> [ComposeService.Port] {
        guard let sequence = node.sequence else {
            fail("\(what) must be a list", node)
            return []
        }
        return sequence.compactMap { item in
            if item.mapping != nil { return longPort(item, what) }
            return string(item, what).flatMap { port($0, item, what) }
        }
    }

    /// The long form of a port (`target:`, `published:`, `host_ip:`, `protocol:`).
    func longPort(_ item: Node, _ what: String) -> ComposeService.Port? {
        guard let keys = pairs(item, what) else { return nil }
        var port = ComposeService.Port(hostIP: nil, hostPort: nil, containerPort: 0, proto: "tcp")
        for (key, value) in keys {
            switch key {
            case "target": port.containerPort = int(value, "\(what).target") ?? 0
            case "published": port.hostPort = string(value, "\(what).published").flatMap(Self.portNumber)
            case "host_ip": port.hostIP = string(value, "\(what).host_ip")
            case "protocol": port.proto = string(value, "\(what).protocol") ?? "tcp"
            case "mode": break
            default: fail("\(what).\(key): is not supported by Berth", value)
            }
        }
        guard (1...65535).contains(port.containerPort) else {
            fail("\(what): target must be a port", item)
            return nil
        }
        return port
    }

    /// `name:/path[:ro]`, `./dir:/path`, `/host:/path`, `/path` (anonymous), or the long form.
    func mounts(_ node: Node, _ what: String) -> [ComposeService.Mount] {
        guard let sequence = node.sequence else {
            fail("\(what) must be a list", node)
            return []
        }
        return sequence.compactMap { item -> ComposeService.Mount? in
            if item.mapping != nil { return longMount(item, what) }
            guard let text = string(item, what) else { return nil }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
                fail("\(what): “\(text)” is not source:target[:ro]", item)
                return nil
            }
            if parts.count == 1 {
                guard parts[0].hasPrefix("/") else {
                    fail("\(what): “\(text)” needs a path in the container", item)
                    return nil
                }
                return .init(kind: .volume, source: nil, target: parts[0], readOnly: false)
            }
            let options = parts.count == 3 ? parts[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
            if let unknown = options.first(where: { !Self.mountOptions.contains($0) }) {
                fail("\(what): “\(unknown)” of “\(text)” is not a mount option (ro, rw, nocopy, z, Z, cached, delegated, consistent)", item)
                return nil
            }
            guard parts[1].hasPrefix("/") else {
                fail("\(what): “\(parts[1])” is not an absolute path in the container", item)
                return nil
            }
            var mount = mount(source: parts[0], target: parts[1], readOnly: options.contains("ro"))
            // As the compose CLI: nocopy means something to a volume only, a bind mount has nothing to copy into.
            mount.noCopy = mount.kind == .volume && options.contains("nocopy")
            return mount
        }
    }

    /// What the compose CLI accepts after `source:target:`. SELinux labels (`z`, `Z`) and the consistency modes of
    /// Docker Desktop (`cached`, `delegated`, `consistent`) are accepted and mean nothing to Berth's engine.
    static let mountOptions: Set<String> = ["ro", "rw", "nocopy", "z", "Z", "cached", "delegated", "consistent"]

    /// A source that is a path (`/`, `.`, `~`) binds it; anything else names a volume.
    func mount(source: String, target: String, readOnly: Bool) -> ComposeService.Mount {
        if source.hasPrefix("/") || source.hasPrefix(".") || source.hasPrefix("~") {
            let path = source.hasPrefix("~") ? (parser.variables["HOME"] ?? "/root") + source.dropFirst() : absolute(source)
            return .init(kind: .bind, source: path, target: target, readOnly: readOnly)
        }
        return .init(kind: .volume, source: source, target: target, readOnly: readOnly)
    }

    func longMount(_ node: Node, _ what: String) -> ComposeService.Mount? {
        guard let keys = pairs(node, what) else { return nil }
        var kind = "volume"
        var source: String?
        var target: String?
        var readOnly = false
        var noCopy = false
        for (key, value) in keys {
            switch key {
            case "type": kind = string(value, "\(what).type") ?? "volume"
            case "source": source = string(value, "\(what).source")
            case "target": target = string(value, "\(what).target")
            case "read_only": readOnly = bool(value, "\(what).read_only")
            case "volume": noCopy = volumeOptions(value, "\(what).volume")
            // Docker Desktop's file sharing modes: nothing to Berth's engine, as `:cached` in the short form.
            case "consistency": _ = string(value, "\(what).consistency")
            default: fail("\(what).\(key): is not supported by Berth", value)
            }
        }
        guard let target, target.hasPrefix("/") else {
            fail("\(what): target must be an absolute path in the container", node)
            return nil
        }
        switch kind {
        case "volume": return .init(kind: .volume, source: source, target: target, readOnly: readOnly, noCopy: noCopy)
        case "bind":
            guard let source else {
                fail("\(what): a bind mount needs a source", node)
                return nil
            }
            return mount(source: source.hasPrefix("/") || source.hasPrefix(".") || source.hasPrefix("~") ? source : "./" + source, target: target, readOnly: readOnly)
        case "tmpfs": return .init(kind: .tmpfs, source: nil, target: target, readOnly: readOnly)
        default:
            fail("\(what): type \(kind) is not supported (volume, bind, tmpfs)", node)
            return nil
        }
    }

    /// A long mount's `volume:` options: `nocopy`, the one Berth knows.
    func volumeOptions(_ node: Node, _ what: String) -> Bool {
        guard let keys = pairs(node, what) else { return false }
        var noCopy = false
        for (key, value) in keys {
            if key == "nocopy" {
                noCopy = bool(value, "\(what).nocopy")
            } else {
                fail("\(what).\(key): is not supported by Berth", value)
            }
        }
        return noCopy
    }

    func serviceNetworks(_ node: Node, _ what: String) -> [String: [String]] {
        if node.sequence != nil { return Dictionary(strings(node, what).map { ($0, []) }) { first, _ in first } }
        guard let keys = pairs(node, what) else { return [:] }
        var networks: [String: [String]] = [:]
        for (name, value) in keys {
            networks[name] = []
            guard value.mapping != nil, let options = pairs(value, "\(what).\(name)") else { continue }
            for (key, option) in options {
                if key == "aliases" {
                    networks[name] = strings(option, "\(what).\(name).aliases")
                } else {
                    fail("\(what).\(name).\(key): is not supported by Berth", option)
                }
            }
        }
        return networks
    }

    func dependsOn(_ node: Node, _ what: String) -> [String: ComposeService.Condition] {
        if node.sequence != nil { return Dictionary(strings(node, what).map { ($0, .started) }) { first, _ in first } }
        guard let keys = pairs(node, what) else { return [:] }
        var result: [String: ComposeService.Condition] = [:]
        for (name, value) in keys {
            result[name] = .started
            guard let options = pairs(value, "\(what).\(name)") else { continue }
            for (key, option) in options {
                switch key {
                case "condition":
                    let text = string(option, "\(what).\(name).condition") ?? ""
                    guard let condition = ComposeService.Condition(rawValue: text) else {
                        fail("\(what).\(name).condition: “\(text)” is not service_started, service_healthy or service_completed_successfully", option)
                        continue
                    }
                    result[name] = condition
                case "restart", "required": _ = bool(option, "\(what).\(name).\(key)")
                default: fail("\(what).\(name).\(key): is not supported by Berth", option)
                }
            }
        }
        return result
    }

    func restart(_ node: Node, _ what: String, into service: inout ComposeService) {
        guard let text = string(node, what) else { return }
        if ["no", "always", "unless-stopped", "on-failure"].contains(text) {
            service.restart = text
        } else if text.hasPrefix("on-failure:"), let count = Int(text.dropFirst("on-failure:".count)), count >= 0 {
            service.restart = "on-failure"
            service.restartRetries = count
        } else {
            fail("\(what): “\(text)” is not no, always, unless-stopped or on-failure[:N]", node)
        }
    }

    func healthcheck(_ node: Node, _ what: String) -> ComposeService.Healthcheck? {
        guard let keys = pairs(node, what) else { return nil }
        var check = ComposeService.Healthcheck(test: [])
        for (key, value) in keys {
            let name = "\(what).\(key)"
            switch key {
            case "test":
                if value.sequence != nil {
                    check.test = strings(value, name)
                    guard let first = check.test.first, ["CMD", "CMD-SHELL", "NONE"].contains(first) else {
                        fail("\(name): a list starts with CMD, CMD-SHELL or NONE", value)
                        continue
                    }
                } else if let text = string(value, name) {
                    check.test = ["CMD-SHELL", text]
                }
            case "interval": check.interval = duration(value, name)
            case "timeout": check.timeout = duration(value, name)
            case "start_period": check.startPeriod = duration(value, name)
            case "retries": check.retries = int(value, name)
            case "disable": if bool(value, name) { check.test = ["NONE"] }
            default: fail("\(name): is not supported by Berth", value)
            }
        }
        return check
    }

    /// `1m30s`, `10s`, `1.5s`, `500ms`, `2h`: nanoseconds.
    func duration(_ node: Node, _ what: String) -> Int64? {
        guard let text = string(node, what) else { return nil }
        if let nanos = Self.nanoseconds(text) { return nanos }
        fail("\(what): “\(text)” is not a duration (such as 30s, 1m30s, 500ms)", node)
        return nil
    }

    static func nanoseconds(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("µs", 1e3), ("ns", 1), ("h", 3.6e12), ("m", 6e10), ("s", 1e9)]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            total += value * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        // A day at most: more is a typo, and would not fit the engine's nanoseconds for long.
        return total <= 86_400e9 ? Int64(total) : nil
    }

    func deploy(_ node: Node, _ what: String) -> Int? {
        guard let keys = pairs(node, what) else { return nil }
        var replicas: Int?
        for (key, value) in keys {
            if key == "replicas" {
                replicas = int(value, "\(what).replicas")
                if let count = replicas, count > 100 {
                    fail("\(what).replicas: at most 100 containers per service", value)
                    replicas = nil
                }
            } else {
                fail("\(what).\(key): is not supported by Berth (only deploy.replicas)", value)
            }
        }
        return replicas
    }

    // MARK: Top level

    func topLevel(_ node: Node, _ what: String) -> [(String, Node?)] {
        guard let keys = pairs(node, what) else { return [] }
        return keys.map { ($0.0, $0.1.scalar.map { $0.string.isEmpty || $0.string == "~" } == true ? nil : $0.1) }
    }

    /// A top-level volume or network: the keys both have, then `extra` for the network's own (`internal`); any other
    /// key is an error at its line.
    func declared<Resource: ComposeResource>(
        _ entry: (String, Node?), in section: String, extra: (String, Node, String, inout Resource) -> Bool = { _, _, _, _ in false }
    ) -> Resource {
        var resource = Resource(key: entry.0)
        guard let node = entry.1, let keys = pairs(node, "\(section).\(entry.0)") else { return resource }
        for (key, value) in keys {
            let what = "\(section).\(entry.0).\(key)"
            resource.lines[key] = value.mark?.line
            switch key {
            case "name": resource.name = string(value, what)
            case "driver": resource.driver = string(value, what)
            case "driver_opts": resource.driverOptions = keyValues(value, what, fromVariables: false)
            case "labels": resource.labels = keyValues(value, what, fromVariables: false)
            case "external": resource.external = bool(value, what)
            default: if !extra(key, value, what, &resource) { fail("\(what): is not supported by Berth", value) }
            }
        }
        return resource
    }

    func volume(_ entry: (String, Node?)) -> ComposeVolume {
        declared(entry, in: "volumes")
    }

    func network(_ entry: (String, Node?)) -> ComposeNetwork {
        declared(entry, in: "networks") { key, value, what, network in
            guard key == "internal" else { return false }
            network.internal = bool(value, what)
            return true
        }
    }

    // MARK: The whole

    /// What only the whole file can tell: references to services, volumes and networks that exist, no dependency
    /// cycle, one container where a name is fixed.
    func check(_ project: inout ComposeProject) {
        let names = Set(project.services.map(\.name))
        let volumes = Set(project.volumes.map(\.key))
        let networks = Set(project.networks.map(\.key)).union(["default"])
        for service in project.services {
            for dependency in service.dependsOn.keys.sorted() where !names.contains(dependency) {
                issues.append(ComposeIssue("\(service.name) depends on \(dependency), which is not a service here", line: service.lines["depends_on"]))
            }
            for mount in service.volumes where mount.kind == .volume {
                if let source = mount.source, !volumes.contains(source) {
                    issues.append(ComposeIssue("\(service.name) mounts the volume \(source), which volumes: does not declare", line: service.lines["volumes"]))
                }
            }
            for network in service.networks.keys.sorted() where !networks.contains(network) {
                issues.append(ComposeIssue("\(service.name) joins the network \(network), which networks: does not declare", line: service.lines["networks"]))
            }
            if let shared = service.networkService, !names.contains(shared) {
                issues.append(ComposeIssue("\(service.name) shares the network of \(shared), which is not a service here", line: service.lines["network_mode"]))
            }
            if service.networkMode != nil, !service.networks.isEmpty {
                issues.append(ComposeIssue("\(service.name) has both network_mode and networks", line: service.lines["network_mode"]))
            }
            if service.containerName != nil, service.replicas > 1 {
                issues.append(ComposeIssue("\(service.name) has a container_name, so it can't have \(service.replicas) replicas", line: service.lines["container_name"]))
            }
        }
        // A cycle: a service that depends, through others, on itself (`network_mode: service:x` counts: x starts first).
        var state: [String: Int] = [:]
        func visit(_ name: String, _ path: [String]) {
            if state[name] == 2 { return }
            if state[name] == 1 {
                let cycle = (path.drop { $0 != name } + [name]).joined(separator: " → ")
                let lines = project.service(name)?.lines
                issues.append(ComposeIssue("the services depend on each other in a circle: \(cycle)", line: lines?["depends_on"] ?? lines?["network_mode"]))
                return
            }
            state[name] = 1
            for dependency in project.service(name)?.startsAfter ?? [] where names.contains(dependency) {
                visit(dependency, path + [name])
            }
            state[name] = 2
        }
        for service in project.services { visit(service.name, []) }
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isASCIIHexDigit || ("a"..."z").contains(first) || ("A"..."Z").contains(first) || ("0"..."9").contains(first) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }
}
