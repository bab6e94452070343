import Crypto
import Foundation
import NIOCore

/// A known_hosts file as OpenSSH reads it: the host keys Berth trusts, nothing learnt on first use.
///
/// A line is `HOSTS KEYTYPE BASE64 [comment]`, optionally after `@revoked`. HOSTS is either a comma list of patterns
/// (`host`, `[host]:port` for a port other than 22, `*` and `?` wildcards, `!` to exclude) or one hashed name,
/// `|1|salt|hash` (`HashKnownHosts`: HMAC-SHA1 of the name under the salt). Lines it cannot read are skipped, as ssh
/// skips them; `@cert-authority` lines too (Berth checks no host certificates).
struct KnownHosts: Sendable {
    struct Entry: Sendable {
        enum Hosts: Sendable {
            case patterns([Substring])
            case hashed(salt: [UInt8], hash: [UInt8])
        }
        let hosts: Hosts
        let key: SSHKeyBlob
        let revoked: Bool
        /// The line's number in the file, for messages.
        let line: Int
    }

    let entries: [Entry]

    init(parsing text: String) {
        var entries: [Entry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })[...]
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            var revoked = false
            if first.hasPrefix("@") {
                guard first == "@revoked" else { continue }
                revoked = true
                fields = fields.dropFirst()
            }
            guard fields.count >= 3 else { continue }
            let hostsField = fields[fields.startIndex], type = fields[fields.startIndex + 1], base64 = fields[fields.startIndex + 2]
            // A key's blob begins with its type: what does not is no key.
            guard let blob = Data(base64Encoded: String(base64)),
                  Self.typeOf(blob) == String(type) else { continue }
            let hosts: Entry.Hosts
            if hostsField.hasPrefix("|1|") {
                let parts = hostsField.split(separator: "|", omittingEmptySubsequences: false)
                guard parts.count == 4, let salt = Data(base64Encoded: String(parts[2])), let hash = Data(base64Encoded: String(parts[3])) else {
                    continue
                }
                hosts = .hashed(salt: [UInt8](salt), hash: [UInt8](hash))
            } else {
                hosts = .patterns(hostsField.split(separator: ","))
            }
            entries.append(Entry(hosts: hosts, key: SSHKeyBlob(type: String(type), bytes: [UInt8](blob)), revoked: revoked, line: index + 1))
        }
        self.entries = entries
    }

    private static func typeOf(_ blob: Data) -> String? {
        var reader = SSHWireReader(ByteBuffer(bytes: blob))
        return try? reader.readString()
    }

    /// How ssh names a host in the file: the bare name on port 22, `[name]:port` on another.
    static func name(host: String, port: Int) -> String {
        port == 22 ? host.lowercased() : "[\(host.lowercased())]:\(port)"
    }

    enum Verdict: Equatable {
        case trusted
        /// The host is not in the file.
        case unknown
        /// The host is in the file, with other keys than the one it presented (the lines that list it).
        case changed(lines: [Int])
        /// The host presented a key the file marks `@revoked`.
        case revoked(line: Int)
    }

    /// Whether `key` is the host's listed key.
    func check(_ key: SSHKeyBlob, host: String, port: Int) -> Verdict {
        let name = Self.name(host: host, port: port)
        let listed = entries.filter { Self.matches($0.hosts, name: name) }
        if let revoked = listed.first(where: { $0.revoked && $0.key == key }) { return .revoked(line: revoked.line) }
        let trusted = listed.filter { !$0.revoked }
        if trusted.contains(where: { $0.key == key }) { return .trusted }
        return trusted.isEmpty ? .unknown : .changed(lines: trusted.map(\.line))
    }

    static func matches(_ hosts: Entry.Hosts, name: String) -> Bool {
        switch hosts {
        case .hashed(let salt, let hash):
            let code = HMAC<Insecure.SHA1>.authenticationCode(for: Array(name.utf8), using: SymmetricKey(data: salt))
            return Array(code) == hash
        case .patterns(let patterns):
            // A matching `!pattern` excludes the host, whatever else on the line matches.
            var matched = false
            for pattern in patterns {
                if pattern.hasPrefix("!") {
                    if glob(pattern.dropFirst().lowercased().utf8[...], name.utf8[...]) { return false }
                } else if glob(pattern.lowercased().utf8[...], name.utf8[...]) {
                    matched = true
                }
            }
            return matched
        }
    }

    /// `*` any run of characters, `?` one character, everything else itself.
    private static func glob(_ pattern: Substring.UTF8View, _ text: Substring.UTF8View) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        switch first {
        case UInt8(ascii: "*"):
            var rest = text
            while true {
                if glob(pattern.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        case UInt8(ascii: "?"):
            return !text.isEmpty && glob(pattern.dropFirst(), text.dropFirst())
        default:
            return text.first == first && glob(pattern.dropFirst(), text.dropFirst())
        }
    }
}
