import BerthWeb
import EngineAPI
import Foundation
import TOMLKit

/// The settings of a `berth.toml`: flat keys named as `serve`'s long options (`port = 8080`, `tls-cert = "…"`).
///
/// Read and checked whole at start: a key Berth does not know, or a value of the wrong type, is an error that names
/// the key and the file, so that a typo never silently falls back to a default.
struct ConfigurationFile: Sendable {
    /// The file read when neither `--config` nor `BERTH_CONFIG` names one; it may be missing.
    static let defaultPath = "/etc/berth/berth.toml"

    /// What a key's value must be, from its setting.
    enum Kind: String, Sendable {
        case string, integer, boolean

        init(_ kind: ServeSetting.Kind) {
            switch kind {
            case .text: self = .string
            case .number: self = .integer
            case .flag: self = .boolean
            }
        }
    }

    typealias Value = ServeSetting.Value

    /// Every key a file may hold, with its type: one per setting.
    static let keys: [String: Kind] = Dictionary(uniqueKeysWithValues: ServeSetting.all.map { ($0.key, Kind($0.kind)) })

    let path: String
    let values: [String: Value]
    /// The `[[engine]]` tables besides `local`, in the file's order.
    let engines: [EngineDefinition]
    /// The groups of an `[[engine]]` named `local`.
    let localEngineGroups: EngineGroups

    /// Reads the file at `path`. A missing file is `nil` unless it was named explicitly.
    static func load(path: String, explicit: Bool) throws -> ConfigurationFile? {
        guard FileManager.default.fileExists(atPath: path) else {
            if explicit { throw ConfigurationError("no configuration file at \(path) (--config or BERTH_CONFIG)") }
            return nil
        }
        // A file handle reads character devices too: `--config /dev/null` is an empty configuration.
        let data: Data
        do {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoPermission) }
            defer { try? handle.close() }
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw ConfigurationError("cannot read the configuration file \(path) (permissions?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("\(path) is not UTF-8 text")
        }
        return try ConfigurationFile(path: path, text: text)
    }

    init(path: String, text: String) throws {
        self.path = path
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("\(path), line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        }
        var values: [String: Value] = [:]
        var engines: [EngineDefinition] = []
        var localEngineGroups = EngineGroups()
        var names: Set<String> = []
        for key in table.keys.sorted() {
            // `[[engine]]` tables name several engines; a plain `engine = "…"` is the one of `--engine`, as before.
            if key == "engine", let array = table[key]?.array {
                for (index, element) in array.enumerated() {
                    guard let engineTable = element.table else {
                        throw ConfigurationError("[[engine]] number \(index + 1) in \(path) must be a table (name = \"…\", address = \"…\")")
                    }
                    let definition = try Self.engine(engineTable, number: index + 1, path: path)
                    guard names.insert(definition.name).inserted else {
                        throw ConfigurationError("two [[engine]] tables in \(path) are named '\(definition.name)'")
                    }
                    if definition.name == EngineDefinition.localName {
                        // The `local` table stands for the flat keys (`--engine`, its files) and may leave the address
                        // out (then `--engine` or DOCKER_HOST gives it); flags and the environment still win.
                        if let address = definition.address { values["engine"] = .text(address.description) }
                        if let tls = definition.tlsDirectory { values["engine-tls-dir"] = .text(tls) }
                        if let key = definition.sshKey { values["engine-ssh-key"] = .text(key) }
                        if let hosts = definition.knownHosts { values["engine-known-hosts"] = .text(hosts) }
                        localEngineGroups = definition.groups
                    } else {
                        guard let address = definition.address else {
                            throw ConfigurationError("the engine '\(definition.name)' in \(path) has no address")
                        }
                        engines.append(EngineDefinition(
                            name: definition.name, address: address, tlsDirectory: definition.tlsDirectory, sshKey: definition.sshKey,
                            knownHosts: definition.knownHosts, groups: definition.groups
                        ))
                    }
                }
                continue
            }
            guard let expected = Self.keys[key] else {
                throw ConfigurationError("unknown key '\(key)' in \(path); known keys: \(Self.keys.keys.sorted().joined(separator: ", "))")
            }
            // The `local` table came first (`engine` sorts before `engine-…`): one place for each of its settings.
            guard values[key] == nil else {
                throw ConfigurationError("'\(key)' in \(path) is set by the [[engine]] named local too: keep one")
            }
            let node = table[key]
            switch expected {
            case .string:
                guard let string = node?.string else { throw Self.wrongType(key, expected, node?.type, path) }
                values[key] = .text(string)
            case .integer:
                guard let integer = node?.int else { throw Self.wrongType(key, expected, node?.type, path) }
                values[key] = .number(integer)
            case .boolean:
                guard let boolean = node?.bool else { throw Self.wrongType(key, expected, node?.type, path) }
                values[key] = .flag(boolean)
            }
        }
        self.values = values
        self.engines = engines
        self.localEngineGroups = localEngineGroups
    }

    /// The keys an `[[engine]]` table may hold.
    static let engineKeys = ["name", "address", "tls-dir", "ssh-key", "known-hosts", "admin-group", "operator-group", "viewer-group", "console-group"]

    /// One `[[engine]]` table, checked whole: every key a string, name and address valid.
    /// An `[[engine]]` table as read: its address may be missing (only `local`'s may).
    struct EngineTable {
        var name: String
        var address: EngineAddress?
        var tlsDirectory: String?
        var sshKey: String?
        var knownHosts: String?
        var groups: EngineGroups
    }

    static func engine(_ table: TOMLTable, number: Int, path: String) throws -> EngineTable {
        let place = "[[engine]] number \(number) in \(path)"
        var strings: [String: String] = [:]
        for key in table.keys {
            guard engineKeys.contains(key) else {
                throw ConfigurationError("unknown key '\(key)' in \(place); known keys: \(engineKeys.joined(separator: ", "))")
            }
            guard let string = table[key]?.string else { throw ConfigurationError("'\(key)' in \(place) must be a string") }
            // An empty group would quietly mean "the global group": a way to open an engine up while meaning to close it.
            guard !string.isEmpty else { throw ConfigurationError("'\(key)' in \(place) is empty; leave it out instead") }
            strings[key] = string
        }
        guard let name = strings["name"] else { throw ConfigurationError("\(place) has no name") }
        guard EngineDefinition.isValidName(name) else {
            throw ConfigurationError("the engine name '\(name)' in \(path) must be 1 to 40 lower-case letters, digits and dashes, starting with a letter or digit")
        }
        var address: EngineAddress?
        if let addressText = strings["address"] {
            do {
                address = try EngineAddress(parsing: addressText)
            } catch {
                throw ConfigurationError("the address of the engine '\(name)' in \(path): \(error)")
            }
        }
        return EngineTable(
            name: name, address: address, tlsDirectory: strings["tls-dir"], sshKey: strings["ssh-key"], knownHosts: strings["known-hosts"],
            groups: EngineGroups(
                admin: strings["admin-group"], operator: strings["operator-group"], viewer: strings["viewer-group"],
                console: strings["console-group"]
            )
        )
    }

    private static func wrongType(_ key: String, _ expected: Kind, _ found: TOMLType?, _ path: String) -> ConfigurationError {
        let article = expected == .integer ? "an" : "a"
        return ConfigurationError("'\(key)' in \(path) must be \(article) \(expected.rawValue), not \(found.map { "a \($0)" } ?? "nothing")")
    }

    /// Where a value came from, for messages: `'port' in /etc/berth/berth.toml`.
    func source(_ key: String) -> String { "'\(key)' in \(path)" }

    /// The key's value; an empty string counts as unset, as an empty environment variable does.
    func value(_ key: String) -> Value? {
        if case .text("") = values[key] { return nil }
        return values[key]
    }
}
