@testable import EngineAPI
import Foundation
import NIOSSH
import Testing
import TestSupport

/// Keys as `ssh-keygen` writes them, read into the key Berth signs with.
@Suite struct OpenSSHKeyTests {
    /// Makes a key with ssh-keygen in a fresh folder; returns the folder and the key's path.
    static func keygen(_ arguments: String...) throws -> (folder: URL, key: String) { try keygen(arguments) }

    static func keygen(_ arguments: [String]) throws -> (folder: URL, key: String) {
        let folder = try Repository.temporaryDirectory()
        let key = folder.appendingPathComponent("key").path
        _ = try TestUsers.shell(["ssh-keygen", "-q", "-f", key, "-C", "test"] + arguments)
        return (folder, key)
    }

    @Test(arguments: [["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"], ["-t", "ecdsa", "-b", "384"], ["-t", "ecdsa", "-b", "521"]])
    func readsTheKeysSwiftNIOSSHSignsWith(_ type: [String]) throws {
        let made = try Self.keygen(type + ["-N", ""])
        defer { try? FileManager.default.removeItem(at: made.folder) }
        let key = try OpenSSHPrivateKey.parse(try String(contentsOfFile: made.key, encoding: .utf8))
        // The public half of what was read is the one ssh-keygen wrote beside it.
        let published = try String(contentsOfFile: made.key + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        #expect(String(openSSHPublicKey: key.publicKey) == published)
    }

    @Test func refusesRSAEncryptedAndPEMKeysWithWordsThatSaySo() throws {
        let rsa = try Self.keygen("-t", "rsa", "-b", "2048", "-N", "")
        defer { try? FileManager.default.removeItem(at: rsa.folder) }
        #expect { _ = try OpenSSHPrivateKey.parse(try String(contentsOfFile: rsa.key, encoding: .utf8)) } throws: {
            "\($0)".contains("RSA key") && "\($0)".contains("ssh-keygen -t ed25519")
        }
        let encrypted = try Self.keygen("-t", "ed25519", "-N", "a passphrase")
        defer { try? FileManager.default.removeItem(at: encrypted.folder) }
        #expect { _ = try OpenSSHPrivateKey.parse(try String(contentsOfFile: encrypted.key, encoding: .utf8)) } throws: {
            "\($0)".contains("passphrase")
        }
        let pem = try Self.keygen("-t", "ecdsa", "-m", "PEM", "-N", "")
        defer { try? FileManager.default.removeItem(at: pem.folder) }
        #expect { _ = try OpenSSHPrivateKey.parse(try String(contentsOfFile: pem.key, encoding: .utf8)) } throws: {
            "\($0)".contains("PEM key")
        }
        #expect(throws: OpenSSHKeyError.self) { try OpenSSHPrivateKey.parse("not a key") }
    }

    @Test func aDamagedKeyIsRefusedWithoutQuotingIt() throws {
        let made = try Self.keygen("-t", "ed25519", "-N", "")
        defer { try? FileManager.default.removeItem(at: made.folder) }
        let text = try String(contentsOfFile: made.key, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        // Cut the body short: the lengths inside no longer add up.
        lines.removeSubrange(2..<(lines.count - 1))
        let damaged = lines.joined(separator: "\n")
        #expect { _ = try OpenSSHPrivateKey.parse(damaged) } throws: { error in
            "\(error)".contains("damaged") && !"\(error)".contains(lines[1].prefix(20))
        }
        // The private seed changed (it lies 40 to 72 bytes before the end, before the public key, the comment and
        // at most 7 bytes of padding): it no longer goes with the stated public key.
        var bytes = [UInt8](Data(base64Encoded: text.split(separator: "\n").dropFirst().dropLast().joined())!)
        bytes[bytes.count - 60] ^= 0xFF
        let tampered = "-----BEGIN OPENSSH PRIVATE KEY-----\n\(Data(bytes).base64EncodedString())\n-----END OPENSSH PRIVATE KEY-----\n"
        #expect(throws: OpenSSHKeyError.self) { try OpenSSHPrivateKey.parse(tampered) }
    }

    @Test func loadingNamesTheFileThatCannotBeUsed() throws {
        let made = try Self.keygen("-t", "ed25519", "-N", "")
        defer { try? FileManager.default.removeItem(at: made.folder) }
        let knownHosts = made.folder.appendingPathComponent("known_hosts").path
        try "[127.0.0.1]:2222 \(try String(contentsOfFile: made.key + ".pub", encoding: .utf8))".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        _ = try EngineSSH(keyPath: made.key, knownHostsPath: knownHosts).load()

        #expect { _ = try EngineSSH(keyPath: made.key + "-none", knownHostsPath: knownHosts).load() } throws: {
            "\($0)".contains("\(made.key)-none does not exist")
        }
        #expect { _ = try EngineSSH(keyPath: made.key, knownHostsPath: knownHosts + "-none").load() } throws: {
            "\($0)".contains("known_hosts-none does not exist")
        }
        let empty = made.folder.appendingPathComponent("empty").path
        try "# nothing\n".write(toFile: empty, atomically: true, encoding: .utf8)
        #expect { _ = try EngineSSH(keyPath: made.key, knownHostsPath: empty).load() } throws: {
            "\($0)".contains("\(empty) lists no host keys")
        }
        // A key others may read is no secret: refused as ssh refuses it.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: made.key)
        #expect { _ = try EngineSSH(keyPath: made.key, knownHostsPath: knownHosts).load() } throws: {
            "\($0)".contains("chmod 600 \(made.key)")
        }
        // The public key file is no private key; the words name it and never quote it.
        let publicText = try String(contentsOfFile: made.key + ".pub", encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: made.key + ".pub")
        #expect { _ = try EngineSSH(keyPath: made.key + ".pub", knownHostsPath: knownHosts).load() } throws: {
            "\($0)".contains("\(made.key).pub is not an OpenSSH private key") && !"\($0)".contains(publicText.split(separator: " ")[1])
        }
    }
}
