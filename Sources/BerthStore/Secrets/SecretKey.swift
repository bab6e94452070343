import Crypto
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The key that seals what Berth stores and must be able to use again (a saved registry password): AES-256-GCM, kept
/// in a file of its own (created 0600 beside the database unless `--secret-key-file` names one), never in the
/// database. A database copied without its key file holds nothing usable.
///
/// Each sealed value names the key it was sealed with (`id`, a hash of the key, not the key), so a lost or replaced
/// key file is told from a damaged value: the value is unusable, and says why.
public struct SecretKey: Sendable {
    /// The first 16 hex digits of SHA-256 of the key: which key sealed a value.
    public let id: String
    private let key: SymmetricKey

    public init(_ key: SymmetricKey) {
        self.key = key
        id = SHA256.hash(data: key.withUnsafeBytes { Data($0) }).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// What opening a sealed value found wrong.
    public enum OpenError: Error, Sendable, Equatable {
        /// It was sealed with another key (the key file was lost or replaced since).
        case otherKey(String)
        /// The value does not open with this key: changed, cut, or moved to another row.
        case damaged
    }

    /// Reads the key file, or creates it (0600, 32 random bytes, base64) when there is none. Refuses a file that others
    /// may read or that does not hold a key.
    public static func loadOrCreate(path: String) throws(SecretKeyError) -> SecretKey {
        let files = FileManager.default
        if !files.fileExists(atPath: path) {
            let key = SymmetricKey(size: .bits256)
            let text = key.withUnsafeBytes { Data($0) }.base64EncodedString() + "\n"
            do {
                try files.createDirectory(
                    at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true
                )
            } catch {
                throw SecretKeyError(path: path, reason: "cannot create its folder: \(error.localizedDescription)")
            }
            // Created with its final mode, exclusively: never readable by others, not even for a moment.
            let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            if descriptor < 0, errno == EEXIST {
                // Another process (a restart overlapping this one, check-config) made it meanwhile: read that one, once
                // it is written.
                Thread.sleep(forTimeInterval: 0.2)
                return try load(path)
            }
            guard descriptor >= 0 else {
                throw SecretKeyError(path: path, reason: "cannot create it: \(String(cString: strerror(errno)))")
            }
            let written = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
            let synced = fsync(descriptor)
            close(descriptor)
            guard written == text.utf8.count, synced == 0 else {
                unlink(path)
                throw SecretKeyError(path: path, reason: "cannot write it")
            }
            return SecretKey(key)
        }
        return try load(path)
    }

    /// Reads an existing key file, refusing one that others may read or that does not hold a key.
    private static func load(_ path: String) throws(SecretKeyError) -> SecretKey {
        let files = FileManager.default
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw SecretKeyError(path: path, reason: "cannot read it: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw SecretKeyError(
                path: path, reason: "others may read it (mode \(String(status.st_mode & 0o777, radix: 8))); run chmod 600 \(path)"
            )
        }
        guard let data = files.contents(atPath: path) else { throw SecretKeyError(path: path, reason: "cannot read it") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: text), bytes.count == 32 else {
            throw SecretKeyError(path: path, reason: "it does not hold a key (32 bytes, base64)")
        }
        return SecretKey(SymmetricKey(data: bytes))
    }

    /// Seals `plaintext`, bound to `context` (what it belongs to: a value moved to another row does not open there).
    public func seal(_ plaintext: Data, context: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw OpenError.damaged }
        return combined
    }

    /// Opens what `seal` made with the key `keyId` names.
    public func open(_ sealed: Data, keyId: String, context: String) throws(OpenError) -> Data {
        guard keyId == id else { throw .otherKey(keyId) }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: Data(context.utf8))
        } catch {
            throw .damaged
        }
    }
}

/// A key file Berth cannot use, naming the file.
public struct SecretKeyError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public var description: String { "the secret key file \(path): \(reason) (set --secret-key-file)" }
}
