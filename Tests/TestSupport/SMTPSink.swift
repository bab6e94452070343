import Foundation

/// A real SMTP server for one test: Debian's aiosmtpd (`python3-aiosmtpd`) running `Tests/smtp-sink.py` on a loopback
/// port, with STARTTLS (a certificate from a CA the test makes) and a login when asked. What it accepts is read back
/// from its folder.
public final class SMTPSink: @unchecked Sendable {
    public struct Received: Sendable, Decodable {
        public let from: String
        public let to: [String]
        /// Whether the message came over TLS (after STARTTLS).
        public let tls: Bool
        public let login: String?
        /// The message as sent: headers, a blank line, the body.
        public let data: String

        /// The body, decoded from base64 when the headers say so.
        public var text: String {
            let parts = data.components(separatedBy: "\r\n\r\n")
            let body = parts.dropFirst().joined(separator: "\r\n\r\n")
            guard parts[0].lowercased().contains("content-transfer-encoding: base64") else { return body }
            return Data(base64Encoded: body, options: .ignoreUnknownCharacters).map { String(decoding: $0, as: UTF8.self) } ?? body
        }

        /// A header's value, as sent (RFC 2047 words left encoded).
        public func header(_ name: String) -> String? {
            let head = data.components(separatedBy: "\r\n\r\n")[0]
            return head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
        }
    }

    /// A CA, and a certificate it signed for `localhost` and 127.0.0.1, made with openssl.
    public struct Certificates: Sendable {
        public let caPath: String
        public let certificatePath: String
        public let keyPath: String

        public static func make(in directory: URL) throws -> Certificates {
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            try TestUsers.shell(
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Berth test CA",
                "-keyout", path("ca-key.pem"), "-out", path("ca.pem")
            )
            try TestUsers.shell(
                "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", path("key.pem"), "-out", path("server.csr")
            )
            try Data("subjectAltName=DNS:localhost,IP:127.0.0.1\n".utf8).write(to: directory.appendingPathComponent("san.ext"))
            try TestUsers.shell(
                "openssl", "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
                "-CAcreateserial", "-days", "2", "-extfile", path("san.ext"), "-out", path("cert.pem")
            )
            return Certificates(caPath: path("ca.pem"), certificatePath: path("cert.pem"), keyPath: path("key.pem"))
        }
    }

    public private(set) var port = 0
    public let directory: URL
    let process = Process()

    /// Starts the sink: with `certificates`, STARTTLS is offered and required (or TLS from the first byte, with
    /// `implicitTLS`); with `login` (`user:password`), AUTH is required, over TLS only (PLAIN and LOGIN, or LOGIN alone
    /// with `loginOnly`).
    public init(certificates: Certificates? = nil, login: String? = nil, implicitTLS: Bool = false, loginOnly: Bool = false) throws {
        let python = "/usr/bin/python3"
        guard (try? TestUsers.shell(python, "-c", "import aiosmtpd")) != nil else {
            throw TestSetupError("aiosmtpd is missing: run scripts/install-deps engine (python3-aiosmtpd)")
        }
        directory = try Repository.temporaryDirectory()
        var arguments = [Repository.root.appendingPathComponent("Tests/smtp-sink.py").path, "--dir", directory.path]
        if let certificates { arguments += ["--cert", certificates.certificatePath, "--key", certificates.keyPath] }
        if let login { arguments += ["--login", login] }
        if implicitTLS { arguments.append("--implicit-tls") }
        if loginOnly { arguments.append("--login-only") }
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // "listening PORT", or nothing when it failed.
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        guard let port = Int(String(decoding: line, as: UTF8.self).replacingOccurrences(of: "listening ", with: "")) else {
            process.terminate()
            throw TestSetupError("the SMTP sink did not start (it printed “\(String(decoding: line, as: UTF8.self))”)")
        }
        self.port = port
    }

    public var received: [Received] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted { (Int($0.dropLast(5)) ?? 0) < (Int($1.dropLast(5)) ?? 0) }
        return names.compactMap { name in
            (try? Data(contentsOf: directory.appendingPathComponent(name))).flatMap { try? JSONDecoder().decode(Received.self, from: $0) }
        }
    }

    /// Waits until `count` messages came; what came.
    public func waitFor(_ count: Int, timeout: Duration = .seconds(20)) async -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while received.count < count, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return received
    }

    public func stop() {
        process.stopServer()
        try? FileManager.default.removeItem(at: directory)
    }
}
