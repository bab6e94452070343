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

    public private(set) var port = 0
    public let directory: URL
    let process = Process()

    /// Starts the sink: with `certificates`, STARTTLS is offered and required (or TLS from the first byte, with
    /// `implicitTLS`); with `login` (`user:password`), AUTH is required, over TLS only (PLAIN and LOGIN, or LOGIN alone
    /// with `loginOnly`).
    public init(certificates: TestCertificates? = nil, login: String? = nil, implicitTLS: Bool = false, loginOnly: Bool = false) throws {
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
