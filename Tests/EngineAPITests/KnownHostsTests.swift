@testable import EngineAPI
import Foundation
import Testing
import TestSupport

/// known_hosts as OpenSSH writes and reads it; hashed lines are made by `ssh-keygen -H` itself.
@Suite struct KnownHostsTests {
    /// Two host keys, as `TYPE BASE64` and the blob.
    struct HostKey {
        let line: String
        let blob: SSHKeyBlob
        let fingerprint: String
    }

    static func hostKey(_ type: String = "ed25519") throws -> HostKey {
        let made = try OpenSSHKeyTests.keygen("-t", type, "-N", "")
        defer { try? FileManager.default.removeItem(at: made.folder) }
        let fields = try String(contentsOfFile: made.key + ".pub", encoding: .utf8).split(separator: " ")
        // `ssh-keygen -l`: "256 SHA256:… test (ED25519)"
        let listed = try TestUsers.shell(["ssh-keygen", "-l", "-f", made.key + ".pub"]).split(separator: " ")
        return HostKey(
            line: "\(fields[0]) \(fields[1])", blob: SSHKeyBlob(type: String(fields[0]), bytes: [UInt8](Data(base64Encoded: String(fields[1]))!)),
            fingerprint: String(listed[1])
        )
    }

    @Test func plainPatternsPortsAndWildcards() throws {
        let key = try Self.hostKey(), other = try Self.hostKey()
        let file = KnownHosts(
            parsing: """
                # a comment, then a blank line

                engine.example,10.0.0.5 \(key.line) a comment
                [127.0.0.1]:2222 \(key.line)
                *.lab.example,!secret.lab.example \(key.line)
                [::1]:2200 \(key.line)
                not a line
                @cert-authority *.example \(other.line)
                """
        )
        #expect(file.entries.count == 4)
        #expect(file.check(key.blob, host: "engine.example", port: 22) == .trusted)
        #expect(file.check(key.blob, host: "ENGINE.example", port: 22) == .trusted)
        #expect(file.check(key.blob, host: "10.0.0.5", port: 22) == .trusted)
        // Off port 22 a host is looked up as [host]:port only.
        #expect(file.check(key.blob, host: "engine.example", port: 2222) == .unknown)
        #expect(file.check(key.blob, host: "127.0.0.1", port: 2222) == .trusted)
        #expect(file.check(key.blob, host: "127.0.0.1", port: 22) == .unknown)
        #expect(file.check(key.blob, host: "::1", port: 2200) == .trusted)
        #expect(file.check(key.blob, host: "a.lab.example", port: 22) == .trusted)
        #expect(file.check(key.blob, host: "secret.lab.example", port: 22) == .unknown)
        // Listed, presenting another key: changed, with the line that lists it.
        #expect(file.check(other.blob, host: "127.0.0.1", port: 2222) == .changed(lines: [4]))
        #expect(file.check(other.blob, host: "nowhere.example", port: 22) == .unknown)
    }

    @Test func hashedEntriesAsSSHKeygenMakesThem() throws {
        let key = try Self.hostKey(), other = try Self.hostKey("ecdsa")
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("known_hosts").path
        try "[127.0.0.1]:2222 \(key.line)\nengine.example \(other.line)\n".write(toFile: path, atomically: true, encoding: .utf8)
        _ = try TestUsers.shell(["ssh-keygen", "-H", "-f", path])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("|1|") && !text.contains("127.0.0.1") && !text.contains("engine.example"))
        let file = KnownHosts(parsing: text)
        #expect(file.entries.count == 2)
        #expect(file.check(key.blob, host: "127.0.0.1", port: 2222) == .trusted)
        #expect(file.check(other.blob, host: "engine.example", port: 22) == .trusted)
        #expect(file.check(key.blob, host: "127.0.0.1", port: 2223) == .unknown)
        #expect(file.check(key.blob, host: "engine.example", port: 22) == .changed(lines: [2]))
    }

    @Test func aRevokedKeyIsRefusedEvenWhenAlsoListed() throws {
        let key = try Self.hostKey()
        let file = KnownHosts(parsing: "engine.example \(key.line)\n@revoked * \(key.line)\n")
        #expect(file.check(key.blob, host: "engine.example", port: 22) == .revoked(line: 2))
    }

    @Test func fingerprintsAsSSHKeygenShowsThem() throws {
        let ed25519 = try Self.hostKey(), ecdsa = try Self.hostKey("ecdsa")
        #expect(ed25519.blob.fingerprint == ed25519.fingerprint)
        #expect(ecdsa.blob.fingerprint == ecdsa.fingerprint)
        #expect(ed25519.blob.kind == "ED25519" && ecdsa.blob.kind == "ECDSA")
    }
}
