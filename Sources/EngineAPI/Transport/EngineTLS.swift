import Foundation
import NIOCore
import NIOSSL

/// TLS to an engine on TCP, as the docker CLI's `DOCKER_TLS_VERIFY` with `DOCKER_CERT_PATH` does: the engine's
/// certificate checked against the given CA (and its name or IP address against the address dialled), and Berth's
/// client certificate presented — the daemon's `--tlsverify` refuses anyone without one from its CA.
public struct EngineTLS: Sendable, Equatable {
    public var caPath: String
    public var certificatePath: String
    public var keyPath: String

    public init(caPath: String, certificatePath: String, keyPath: String) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// The files of a folder in the `DOCKER_CERT_PATH` layout: `ca.pem`, `cert.pem`, `key.pem`.
    public init(directory: String) {
        let folder = URL(fileURLWithPath: directory)
        self.init(
            caPath: folder.appendingPathComponent("ca.pem").path, certificatePath: folder.appendingPathComponent("cert.pem").path,
            keyPath: folder.appendingPathComponent("key.pem").path
        )
    }

    /// What the transport uses: the configuration (for requests) and a context made from it once (for the streams on
    /// connections of their own).
    public struct Loaded: Sendable {
        let configuration: TLSConfiguration
        let context: NIOSSLContext
    }

    /// The files read and checked; throws words that name the file that could not be used.
    public func load() throws -> Loaded {
        let configuration = try configuration()
        do {
            return Loaded(configuration: configuration, context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw EngineTLSError("the client key \(keyPath) does not go with the certificate \(certificatePath), or TLS cannot be set up: \(error)")
        }
    }

    /// The same from the files' contents (an engine whose files Berth keeps itself, sealed); `source` names them in
    /// the words (never their contents).
    public static func load(caPEM: String, certificatePEM: String, keyPEM: String, source: String) throws -> Loaded {
        let roots: [NIOSSLCertificate]
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            roots = try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8))
        } catch {
            throw EngineTLSError("the engine's CA certificate of \(source) cannot be read: \(error)")
        }
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        } catch {
            throw EngineTLSError("the client certificate of \(source) cannot be read: \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw EngineTLSError("the client key of \(source) cannot be read (a PEM key without a passphrase is needed)")
        }
        guard !roots.isEmpty else { throw EngineTLSError("the engine's CA certificate of \(source) holds no certificate") }
        guard !chain.isEmpty else { throw EngineTLSError("the client certificate of \(source) holds no certificate") }
        let configuration = clientConfiguration(roots: roots, chain: chain, key: key)
        do {
            return Loaded(configuration: configuration, context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw EngineTLSError("the client key of \(source) does not go with its certificate, or TLS cannot be set up: \(error)")
        }
    }

    /// What both ways end in: the engine's certificate checked against `roots`, Berth's `chain` and `key` presented.
    static func clientConfiguration(roots: [NIOSSLCertificate], chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        // Berth closes its own stream connections while holding back reads (a reader gone): the engine's answer to
        // the close_notify is not waited for long, so a closed stream gives back its slot at once.
        configuration.shutdownTimeout = .milliseconds(100)
        configuration.trustRoots = .certificates(roots)
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        return configuration
    }

    /// The client side's configuration; throws words that name the file that could not be used.
    func configuration() throws -> TLSConfiguration {
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(caPath)
        } catch {
            throw EngineTLSError("the engine's CA certificate \(caPath) cannot be read: \(error)")
        }
        guard !roots.isEmpty else { throw EngineTLSError("the engine's CA certificate \(caPath) holds no certificate") }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw EngineTLSError("the client certificate \(certificatePath) cannot be read: \(error)")
        }
        guard !chain.isEmpty else { throw EngineTLSError("the client certificate \(certificatePath) holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw EngineTLSError("the client key \(keyPath) cannot be read: \(error)")
        }
        return Self.clientConfiguration(roots: roots, chain: chain, key: key)
    }
}

public struct EngineTLSError: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
