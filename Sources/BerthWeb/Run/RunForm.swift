import Compose
import EngineAPI
import Foundation

/// The "run a container" form, parsed and checked. The create body is built from these typed fields only; nothing
/// the browser sends is passed to the engine as JSON, so no option outside this list can reach it.
struct RunForm: Sendable {
    enum Mode: String, Sendable {
        case foreground, detached
    }

    var image = ""
    var name = ""
    /// As typed, for showing the form again.
    var commandText = ""
    var commandPerLine = false
    var command: [String] = []
    var environment: [String] = []
    var labels: [String: String] = [:]
    var ports: [PortMapping] = []
    var mounts: [MountSpec] = []
    var network = "none"
    var restart = "no"
    var restartRetries: Int?
    var autoRemove = false
    var workingDir = ""
    var user = ""
    var tty = false
    var mode = Mode.foreground
    // Admin-only options.
    var privileged = false
    var capAdd: [String] = []
    var hostPID = false

    struct PortMapping: Sendable, Equatable {
        var hostIP: String?
        var hostPort: String?
        var containerPort: Int
        var proto: String

        var key: String { "\(containerPort)/\(proto)" }
    }

    struct MountSpec: Sendable, Equatable {
        /// A path (bind) or a volume name.
        var source: String
        var target: String
        var readOnly: Bool

        var isBind: Bool { source.hasPrefix("/") }
    }

    /// Parses the form; throws the first problem as a message for the person who typed it.
    init(_ form: FormFields) throws(InputError) {
        func text(_ key: String) -> String { (form[key] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

        // A NUL can't travel in the engine's strings: a container made with one could never start.
        if let field = form.firstField(where: { $0.contains("\u{0}") }) {
            throw InputError("The field \(field.prefix(40)) holds a NUL character, which no container setting may hold.")
        }
        image = text("image")
        guard !image.isEmpty else { throw InputError("Give the image to run, such as busybox or alpine:3.20.") }
        guard image.utf8.count <= 512, image.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw InputError("The image reference may hold only printable ASCII characters, without spaces, such as busybox or registry:5000/team/app:1.")
        }
        name = text("name")
        guard name.isEmpty || NameRules.isValidObjectName(name) else { throw InputError(NameRules.objectNameRule) }
        commandText = form["command"] ?? ""
        commandPerLine = form["commandMode"] == "lines"
        if commandPerLine {
            command = commandText.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        } else {
            do {
                command = try CommandLineSplitter.split(commandText)
            } catch {
                throw InputError("The command cannot be split into arguments: \(error.message)")
            }
        }
        for line in form.lines("env") {
            guard line.contains("="), !line.hasPrefix("=") else {
                throw InputError("Environment lines are KEY=VALUE; '\(line.prefix(40))' is not.")
            }
            environment.append(line)
        }
        for line in form.lines("labels") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard !parts[0].isEmpty else { throw InputError("Label lines are key=value; '\(line.prefix(40))' is not.") }
            labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        for line in form.lines("ports") { ports.append(try Self.port(line)) }
        for line in form.lines("mounts") { mounts.append(try Self.mount(line)) }
        let requestedNetwork = text("network")
        network = requestedNetwork.isEmpty ? "none" : requestedNetwork
        let restartText = text("restart")
        if restartText.hasPrefix("on-failure") {
            restart = "on-failure"
            let retries = restartText.dropFirst("on-failure".count)
            if retries.hasPrefix(":") {
                guard let count = Int(retries.dropFirst()), count >= 0 else { throw InputError("on-failure:N needs a number.") }
                restartRetries = count
            }
        } else if ["", "no", "always", "unless-stopped"].contains(restartText) {
            restart = restartText.isEmpty ? "no" : restartText
        } else {
            throw InputError("The restart policy is one of no, always, unless-stopped, on-failure[:N].")
        }
        autoRemove = form.isChecked("autoRemove")
        workingDir = text("workingDir")
        guard workingDir.isEmpty || workingDir.hasPrefix("/") else { throw InputError("The working directory must be an absolute path.") }
        user = text("user")
        tty = form.isChecked("tty")
        mode = Mode(rawValue: text("mode")) ?? .foreground
        privileged = form.isChecked("privileged")
        capAdd = text("capAdd").split(whereSeparator: { $0 == "," || $0.isWhitespace }).map { $0.uppercased() }
        hostPID = form.isChecked("hostPID")
        if autoRemove && restart != "no" { throw InputError("Auto-remove and a restart policy exclude each other.") }
    }

    /// `80`, `8080:80`, `127.0.0.1:8080:80`, each optionally `/udp`.
    static func port(_ line: String) throws(InputError) -> PortMapping {
        var spec = Substring(line)
        var proto = "tcp"
        if let slash = spec.lastIndex(of: "/") {
            proto = spec[spec.index(after: slash)...].lowercased()
            spec = spec[..<slash]
            guard ["tcp", "udp", "sctp"].contains(proto) else { throw InputError("Port protocol '\(proto)' is not tcp, udp or sctp.") }
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func number(_ text: String) throws(InputError) -> Int {
            guard let value = Int(text), (1...65535).contains(value) else { throw InputError("'\(line.prefix(40))' is not a port mapping such as 8080:80.") }
            return value
        }
        switch parts.count {
        case 1: return PortMapping(hostIP: nil, hostPort: nil, containerPort: try number(parts[0]), proto: proto)
        case 2: return PortMapping(hostIP: nil, hostPort: String(try number(parts[0])), containerPort: try number(parts[1]), proto: proto)
        case 3: return PortMapping(hostIP: parts[0], hostPort: parts[1].isEmpty ? nil : String(try number(parts[1])), containerPort: try number(parts[2]), proto: proto)
        default: throw InputError("'\(line.prefix(40))' is not a port mapping such as 8080:80.")
        }
    }

    /// `volume:/path`, `/host/path:/path`, each optionally `:ro`.
    static func mount(_ line: String) throws(InputError) -> MountSpec {
        var parts = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var readOnly = false
        if parts.count == 3, parts[2] == "ro" || parts[2] == "rw" {
            readOnly = parts[2] == "ro"
            parts.removeLast()
        }
        guard parts.count == 2, !parts[0].isEmpty, parts[1].hasPrefix("/") else {
            throw InputError("Mounts are source:/path[:ro], with a volume name or a host path as source; '\(line.prefix(60))' is not.")
        }
        return MountSpec(source: parts[0], target: parts[1], readOnly: readOnly)
    }

    /// The options only admins may use, by the names the Engine API gives them; empty when there are none. Mounts are
    /// judged by `MountPolicy`, which looks volumes up.
    var adminOnlyOptions: [String] {
        var options: [String] = []
        if privileged { options.append("Privileged") }
        if !capAdd.isEmpty { options.append("CapAdd") }
        if hostPID { options.append("PidMode=host") }
        let lowered = network.lowercased()
        if lowered == "host" || lowered.hasPrefix("container:") { options.append("NetworkMode=\(network)") }
        return options
    }

    var createRequest: ContainerCreateRequest {
        var exposed: [String: ContainerCreateRequest.EmptyObject] = [:]
        var bindings: [String: [ContainerInspect.PortBinding]] = [:]
        for port in ports {
            exposed[port.key] = .init()
            if port.hostPort != nil || port.hostIP != nil {
                bindings[port.key, default: []].append(.init(hostIP: port.hostIP, hostPort: port.hostPort ?? ""))
            }
        }
        let engineMounts = mounts.map {
            ContainerCreateRequest.Mount(type: $0.isBind ? "bind" : "volume", source: $0.source, target: $0.target, readOnly: $0.readOnly ? true : nil)
        }
        return ContainerCreateRequest(
            image: image,
            cmd: command.isEmpty ? nil : command,
            env: environment.isEmpty ? nil : environment,
            labels: labels.isEmpty ? nil : labels,
            workingDir: workingDir.isEmpty ? nil : workingDir,
            user: user.isEmpty ? nil : user,
            tty: tty,
            exposedPorts: exposed.isEmpty ? nil : exposed,
            hostConfig: .init(
                networkMode: network,
                autoRemove: mode == .detached && autoRemove ? true : nil,
                mounts: engineMounts.isEmpty ? nil : engineMounts,
                portBindings: bindings.isEmpty ? nil : bindings,
                restartPolicy: restart == "no" ? nil : RestartPolicy(name: restart, maximumRetryCount: restartRetries),
                privileged: privileged ? true : nil,
                capAdd: capAdd.isEmpty ? nil : capAdd,
                pidMode: hostPID ? "host" : nil
            )
        )
    }

    /// What the audit trail keeps: everything but environment values (keys only).
    var auditParameters: [String: String] {
        var parameters = ["image": image, "mode": mode.rawValue, "network": network]
        if !name.isEmpty { parameters["name"] = name }
        if !command.isEmpty { parameters["cmd"] = command.joined(separator: " ") }
        if !environment.isEmpty {
            parameters["envKeys"] = environment.map { String($0.prefix { $0 != "=" }) }.joined(separator: ",")
        }
        if !labels.isEmpty { parameters["labels"] = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
        if !ports.isEmpty { parameters["ports"] = ports.map { "\($0.hostIP.map { "\($0):" } ?? "")\($0.hostPort.map { "\($0):" } ?? "")\($0.key)" }.joined(separator: ",") }
        if !mounts.isEmpty { parameters["mounts"] = mounts.map { "\($0.source):\($0.target)\($0.readOnly ? ":ro" : "")" }.joined(separator: ",") }
        if restart != "no" { parameters["restart"] = restart + (restartRetries.map { ":\($0)" } ?? "") }
        if autoRemove { parameters["autoRemove"] = "1" }
        if !workingDir.isEmpty { parameters["workingDir"] = workingDir }
        if !user.isEmpty { parameters["user"] = user }
        if tty { parameters["tty"] = "1" }
        if privileged { parameters["privileged"] = "1" }
        if !capAdd.isEmpty { parameters["capAdd"] = capAdd.joined(separator: ",") }
        if hostPID { parameters["pidMode"] = "host" }
        return parameters
    }
}
