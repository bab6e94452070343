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
        for key in table.keys.sorted() {
            // `[[engine]]` tables name several engines; a plain `engine = "…"` is the one of `--engine`, as before.
            if key == "engine", let array = table[key]?.array {
                for (index, element) in array.enumerated() {
                    guard let engineTable = element.table else {
                        throw ConfigurationError("[[engine]] number \(index + 1) in \(path) must be a table (name = \"…\", address = \"…\")")
                    }
                    let definition = try Self.engine(engineTable, number: index + 1, path: path)
                    guard !engines.contains(where: { $0.name == definition.name }) else {
                        throw ConfigurationError("two [[engine]] tables in \(path) are named '\(definition.name)'")
                    }
                    if definition.name == EngineDefinition.localName {
                        // The `local` table stands for the flat keys: `--engine` and `--engine-tls-dir` still win.
                        values["engine"] = .text(definition.address.description)
                        if let tls = definition.tlsDirectory { values["engine-tls-dir"] = .text(tls) }
                        localEngineGroups = definition.groups
                    } else {
                        engines.append(definition)
                    }
                }
                continue
            }
            guard let expected = Self.keys[key] else {
                throw ConfigurationError("unknown key '\(key)' in \(path); known keys: \(Self.keys.keys.sorted().joined(separator: ", "))")
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
    static let engineKeys = ["name", "address", "tls-dir", "admin-group", "operator-group", "viewer-group"]

    /// One `[[engine]]` table, checked whole: every key a string, name and address valid.
    static func engine(_ table: TOMLTable, number: Int, path: String) throws -> EngineDefinition {
        let place = "[[engine]] number \(number) in \(path)"
        var strings: [String: String] = [:]
        for key in table.keys {
            guard engineKeys.contains(key) else {
                throw ConfigurationError("unknown key '\(key)' in \(place); known keys: \(engineKeys.joined(separator: ", "))")
            }
            guard let string = table[key]?.string else { throw ConfigurationError("'\(key)' in \(place) must be a string") }
            if !string.isEmpty { strings[key] = string }
        }
        guard let name = strings["name"] else { throw ConfigurationError("\(place) has no name") }
        guard EngineDefinition.isValidName(name) else {
            throw ConfigurationError("the engine name '\(name)' in \(path) must be 1 to 40 lower-case letters, digits and dashes, starting with a letter or digit")
        }
        guard let addressText = strings["address"] else { throw ConfigurationError("the engine '\(name)' in \(path) has no address") }
        let address: EngineAddress
        do {
            address = try EngineAddress(parsing: addressText)
        } catch {
            throw ConfigurationError("the address of the engine '\(name)' in \(path): \(error)")
        }
        return EngineDefinition(
            name: name, address: address, tlsDirectory: strings["tls-dir"],
            groups: EngineGroups(admin: strings["admin-group"], operator: strings["operator-group"], viewer: strings["viewer-group"])
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
