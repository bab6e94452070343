import Foundation
import NIOSSH

/// SSH to an engine's host, as the docker CLI's `ssh://user@host` transport does: one SSH connection, and on it every
/// engine connection a session that runs `docker system dial-stdio` on the host (see ``SSHTunnel``).
///
/// Berth signs in with a private key only, never a password, and trusts only the host keys a known_hosts file lists:
/// an unknown host or a changed key is refused, nothing is learnt on first use.
public struct EngineSSH: Sendable, Equatable {
    /// The user's private key, in OpenSSH's format (`ssh-keygen -t ed25519`), without a passphrase.
    public var keyPath: String
    /// The host keys Berth trusts, in OpenSSH's known_hosts format (`ssh-keyscan -p PORT HOST` makes the lines).
    public var knownHostsPath: String

    public init(keyPath: String, knownHostsPath: String) {
        self.keyPath = keyPath
        self.knownHostsPath = knownHostsPath
    }

    /// What the transport uses: the key ready to sign with and the host keys.
    public struct Loaded: Sendable {
        let privateKey: NIOSSHPrivateKey
        let knownHosts: KnownHosts
        let keyPath: String
        let knownHostsPath: String
    }

    /// The files read and checked; throws words that name the file that could not be used (never its contents).
    public func load() throws -> Loaded {
        let keyText = try Self.read(keyPath, what: "the SSH private key")
        // As ssh itself: a key others may read is no secret any more, and not used.
        if let mode = (try? FileManager.default.attributesOfItem(atPath: keyPath))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw EngineSSHError(
                "the SSH private key \(keyPath) may be read by others (mode \(String(mode & 0o777, radix: 8))): `chmod 600 \(keyPath)`"
            )
        }
        return try Self.load(
            key: keyText, knownHosts: try Self.read(knownHostsPath, what: "the SSH known_hosts file"), keySource: keyPath,
            knownHostsSource: knownHostsPath
        )
    }

    /// The same from the files' contents (an engine whose key Berth keeps itself, sealed); the sources name them in
    /// the words (never their contents).
    public static func load(key keyText: String, knownHosts knownHostsText: String, keySource: String, knownHostsSource: String) throws -> Loaded {
        let privateKey: NIOSSHPrivateKey
        do {
            privateKey = try OpenSSHPrivateKey.parse(keyText)
        } catch {
            throw EngineSSHError("the SSH private key \(keySource) \(error)")
        }
        let knownHosts = KnownHosts(parsing: knownHostsText)
        guard !knownHosts.entries.isEmpty else {
            throw EngineSSHError(
                "the SSH known_hosts of \(knownHostsSource) lists no host keys: add the engine host's (`ssh-keyscan -p PORT HOST`)"
            )
        }
        return Loaded(privateKey: privateKey, knownHosts: knownHosts, keyPath: keySource, knownHostsPath: knownHostsSource)
    }

    private static func read(_ path: String, what: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw EngineSSHError("\(what) \(path) does not exist") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineSSHError("\(what) \(path) cannot be read (the Berth user needs read access to it)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw EngineSSHError("\(what) \(path) is not text") }
        return text
    }
}

public struct EngineSSHError: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
