import EngineAPI

/// An engine Berth administers, as `[[engine]]` in `berth.toml` names it: where it listens, how Berth proves who it is
/// (TLS files, later an SSH key), and which unix groups give roles on it.
///
/// The engine of `--engine` (`DOCKER_HOST`) is the one named `local`; an `[[engine]]` named `local` sets its address.
public struct EngineDefinition: Sendable, Equatable {
    public var name: String
    public var address: EngineAddress
    /// TLS files in the `DOCKER_CERT_PATH` layout (`ca.pem`, `cert.pem`, `key.pem`), for `tcp://` with `--tlsverify`.
    public var tlsDirectory: String?
    /// For `ssh://user@host`: the user's OpenSSH private key, and the known_hosts file with the host's key.
    public var sshKey: String?
    public var knownHosts: String?
    public var groups: EngineGroups

    public init(
        name: String, address: EngineAddress, tlsDirectory: String? = nil, sshKey: String? = nil, knownHosts: String? = nil,
        groups: EngineGroups = EngineGroups()
    ) {
        self.name = name
        self.address = address
        self.tlsDirectory = tlsDirectory
        self.sshKey = sshKey
        self.knownHosts = knownHosts
        self.groups = groups
    }

    /// The name of the engine of `--engine`, whose pages also answer at the URLs without `/engines/NAME`.
    public static let localName = "local"

    /// Its TLS and SSH files read and checked; the words name the engine's setting that is wrong (`--engine-…` for
    /// `local`).
    func loadTransport() throws -> (tls: EngineTLS.Loaded?, ssh: EngineSSH.Loaded?) {
        let label = name == Self.localName ? nil : name
        return (
            try AppConfiguration.loadTLS(tlsDirectory, for: address, engine: label),
            try AppConfiguration.loadSSH(key: sshKey, knownHosts: knownHosts, for: address, engine: label)
        )
    }

    /// Names go into URLs and the audit trail: short, lower-case letters, digits and dashes.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (1...40).contains(name.utf8.count) else { return false }
        let isLowerOrDigit = { (byte: UInt8) in (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        return isLowerOrDigit(first) && name.utf8.allSatisfy { isLowerOrDigit($0) || $0 == UInt8(ascii: "-") }
    }
}

/// The unix groups an engine names for its roles (`admin-group`, `operator-group`, `viewer-group` of an `[[engine]]`).
/// A role left unnamed is the global group's (`--admin-group` and friends); an engine that names none has the global
/// roles.
public struct EngineGroups: Sendable, Equatable {
    public var admin: String?
    public var `operator`: String?
    public var viewer: String?
    /// Members may open consoles there whatever their role.
    public var console: String?

    public init(admin: String? = nil, operator: String? = nil, viewer: String? = nil, console: String? = nil) {
        self.admin = admin
        self.operator = `operator`
        self.viewer = viewer
        self.console = console
    }

    /// The groups that give roles on the engine; nil when it names none (the global ones apply).
    func roleGroups(global: RoleGroups) -> RoleGroups? {
        guard admin != nil || `operator` != nil || viewer != nil || console != nil else { return nil }
        return RoleGroups(
            admin: admin ?? global.admin, operator: `operator` ?? global.operator, viewer: viewer ?? global.viewer,
            console: console ?? global.console
        )
    }
}
