import Crypto
import Foundation
import NIOCore
import NIOSSH

/// A private key in OpenSSH's own file format (`-----BEGIN OPENSSH PRIVATE KEY-----`, what `ssh-keygen` writes),
/// read into the key swift-nio-ssh signs with.
///
/// swift-nio-ssh 0.15.1 reads no key files, and signs with ed25519 and ECDSA (nistp256, nistp384, nistp521) keys only:
/// an RSA key is refused with words that say so, as is a key encrypted with a passphrase (Berth has no one to ask).
enum OpenSSHPrivateKey {
    /// The key type, as the file names it (`ssh-ed25519`, `ecdsa-sha2-nistp256`, …).
    static let supportedTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]

    private static let begin = "-----BEGIN OPENSSH PRIVATE KEY-----"
    private static let end = "-----END OPENSSH PRIVATE KEY-----"
    private static let magic = Array("openssh-key-v1\0".utf8)

    /// Reads the text of a key file. The errors never quote the key's bytes.
    static func parse(_ text: String) throws(OpenSSHKeyError) -> NIOSSHPrivateKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix(begin), trimmed.hasSuffix(end) else {
            if trimmed.contains("BEGIN RSA PRIVATE KEY") { throw .rsa }
            if trimmed.contains("PRIVATE KEY-----") {
                throw OpenSSHKeyError("is a PEM key, not in OpenSSH's format: rewrite it with `ssh-keygen -p -f FILE` or make one with `ssh-keygen -t ed25519`")
            }
            throw OpenSSHKeyError("is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)")
        }
        let base64 = trimmed.dropFirst(begin.count).dropLast(end.count).filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: String(base64)) else { throw OpenSSHKeyError("is damaged (not base64 between its lines)") }
        var reader = SSHWireReader(ByteBuffer(bytes: data))
        do {
            return try read(&reader)
        } catch let error as OpenSSHKeyError {
            throw error
        } catch {
            throw OpenSSHKeyError("is damaged (\(error))")
        }
    }

    private static func read(_ reader: inout SSHWireReader) throws -> NIOSSHPrivateKey {
        guard try reader.readBytes(magic.count) == magic else { throw OpenSSHKeyError("is not an openssh-key-v1 key") }
        let cipher = try reader.readString()
        let kdf = try reader.readString()
        _ = try reader.readBlob()  // the KDF's options
        guard cipher == "none", kdf == "none" else { throw OpenSSHKeyError.encrypted }
        guard try reader.readUInt32() == 1 else { throw OpenSSHKeyError("holds more than one key") }
        let publicBlob = try reader.readBlob()
        var secret = SSHWireReader(ByteBuffer(bytes: try reader.readBlob()))
        // Two equal numbers: with a passphrase, what tells a wrong one; here, a sign the section is whole.
        guard try secret.readUInt32() == secret.readUInt32() else { throw OpenSSHKeyError("is damaged (its check numbers differ)") }
        let type = try secret.readString()
        let key: NIOSSHPrivateKey
        switch type {
        case "ssh-ed25519":
            _ = try secret.readBlob()  // the public key, again
            let both = try secret.readBlob()  // seed then public key, 32 bytes each
            guard both.count == 64 else { throw OpenSSHKeyError("is damaged (an ed25519 key of \(both.count) bytes)") }
            key = NIOSSHPrivateKey(ed25519Key: try Curve25519.Signing.PrivateKey(rawRepresentation: both.prefix(32)))
        case "ecdsa-sha2-nistp256":
            key = NIOSSHPrivateKey(p256Key: try P256.Signing.PrivateKey(rawRepresentation: try ecdsaScalar(&secret, size: 32)))
        case "ecdsa-sha2-nistp384":
            key = NIOSSHPrivateKey(p384Key: try P384.Signing.PrivateKey(rawRepresentation: try ecdsaScalar(&secret, size: 48)))
        case "ecdsa-sha2-nistp521":
            key = NIOSSHPrivateKey(p521Key: try P521.Signing.PrivateKey(rawRepresentation: try ecdsaScalar(&secret, size: 66)))
        case "ssh-rsa":
            throw OpenSSHKeyError.rsa
        default:
            throw OpenSSHKeyError("is a \(type) key; Berth signs with \(supportedTypes.joined(separator: ", ")) keys only")
        }
        // The public key the file states must be the one the private key makes: otherwise the file is damaged.
        guard SSHKeyBlob(key.publicKey).bytes == publicBlob else {
            throw OpenSSHKeyError("is damaged (its public key does not go with its private key)")
        }
        return key
    }

    /// ECDSA's private scalar: the curve's name, the public point, then the scalar as an mpint (a leading zero when
    /// its top bit is set, shorter when it starts with zeros), made the curve's exact length.
    private static func ecdsaScalar(_ reader: inout SSHWireReader, size: Int) throws -> [UInt8] {
        _ = try reader.readString()
        _ = try reader.readBlob()
        var scalar = try reader.readBlob()[...]
        while scalar.first == 0 { scalar = scalar.dropFirst() }
        guard scalar.count <= size else { throw OpenSSHKeyError("is damaged (an ECDSA key too long for its curve)") }
        return [UInt8](repeating: 0, count: size - scalar.count) + scalar
    }
}

/// What is wrong with a key file; the caller puts the file's path in front.
struct OpenSSHKeyError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }

    static let rsa = OpenSSHKeyError(
        "is an RSA key, which Berth's SSH (swift-nio-ssh) cannot sign with: make an ed25519 key with `ssh-keygen -t ed25519` and add its .pub to the host's authorized_keys"
    )
    static let encrypted = OpenSSHKeyError(
        "is encrypted with a passphrase, which Berth cannot ask for: give Berth a key of its own without one (`ssh-keygen -t ed25519 -N ''`)"
    )
}

/// The SSH wire encoding's pieces (RFC 4251 §5): big-endian numbers and length-prefixed strings.
struct SSHWireReader {
    private var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) { self.buffer = buffer }

    struct Truncated: Error, CustomStringConvertible {
        var description: String { "it ends too soon" }
    }

    mutating func readUInt32() throws -> UInt32 {
        guard let value = buffer.readInteger(as: UInt32.self) else { throw Truncated() }
        return value
    }

    mutating func readBytes(_ count: Int) throws -> [UInt8] {
        guard let bytes = buffer.readBytes(length: count) else { throw Truncated() }
        return bytes
    }

    mutating func readBlob() throws -> [UInt8] {
        let length = try readUInt32()
        guard length <= buffer.readableBytes else { throw Truncated() }
        return try readBytes(Int(length))
    }

    mutating func readString() throws -> String {
        String(decoding: try readBlob(), as: UTF8.self)
    }
}

/// A public key's wire encoding (its "blob"), what known_hosts lists in base64 and fingerprints hash.
struct SSHKeyBlob: Equatable {
    let type: String
    let bytes: [UInt8]

    init(type: String, bytes: [UInt8]) {
        self.type = type
        self.bytes = bytes
    }

    /// swift-nio-ssh writes a key only as OpenSSH's one-line form, `TYPE BASE64`.
    init(_ key: NIOSSHPublicKey) {
        let line = String(openSSHPublicKey: key).split(separator: " ")
        self.type = String(line[0])
        self.bytes = [UInt8](Data(base64Encoded: String(line[1])) ?? Data())
    }

    /// The fingerprint as `ssh-keygen -l` and ssh's prompts show it: `SHA256:` and unpadded base64.
    var fingerprint: String {
        let digest = Data(SHA256.hash(data: bytes)).base64EncodedString()
        return "SHA256:" + digest.replacingOccurrences(of: "=", with: "")
    }

    /// The key's kind as ssh's messages name it (`ED25519`, `ECDSA`, `RSA`).
    var kind: String {
        switch type {
        case "ssh-ed25519": return "ED25519"
        case "ssh-rsa": return "RSA"
        case _ where type.hasPrefix("ecdsa-sha2-"): return "ECDSA"
        default: return type
        }
    }
}
