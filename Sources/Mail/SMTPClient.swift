import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Where mail is submitted: an SMTP server, reached at an address the caller has already resolved and checked (so a
/// name that resolves elsewhere a moment later is never what is connected to), named by `host` for TLS.
public struct MailServer: Sendable {
    public enum Security: Sendable, Equatable {
        /// Plain connection, upgraded with STARTTLS whenever the server offers it (ports 25, 587).
        case startTLSWhenOffered
        /// TLS from the first byte (port 465, `smtps://`).
        case implicitTLS
    }

    public var host: String
    public var address: SocketAddress
    public var security: Security
    public var username: String?
    public var password: String?
    /// Certificates trusted beside the system's (a company CA).
    public var additionalTrustRoots: [NIOSSLCertificate]

    public init(
        host: String, address: SocketAddress, security: Security, username: String? = nil, password: String? = nil,
        additionalTrustRoots: [NIOSSLCertificate] = []
    ) {
        self.host = host
        self.address = address
        self.security = security
        self.username = username
        self.password = password
        self.additionalTrustRoots = additionalTrustRoots
    }
}

/// A plain-text message to one or more recipients.
public struct MailMessage: Sendable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var body: String
    public var date: Date

    public init(from: String, to: [String], subject: String, body: String, date: Date = Date()) {
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.date = date
    }
}

/// Why a message was not accepted, in words for a delivery log: the server's own reply when it gave one.
public struct MailError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// No connection was made: another address of the server may do.
    public let notConnected: Bool
    /// Trying again will not help: the server refused for good (a 5xx reply, such as a wrong password), or it offers
    /// no encryption for the password. Repeating a wrong password only gets the sender locked out.
    public let permanent: Bool

    public init(_ description: String, notConnected: Bool = false, permanent: Bool = false) {
        self.description = description
        self.notConnected = notConnected
        self.permanent = permanent
    }
}

/// Submits mail over SMTP (RFC 5321) with STARTTLS (RFC 3207) and AUTH PLAIN or LOGIN (RFC 4954). No SMTP library is
/// among the packages this project builds with, and submission is small: this is all of it. A password is never sent
/// over a connection that is not encrypted.
public enum SMTPClient {
    public static func send(_ message: MailMessage, via server: MailServer, timeout: Duration = .seconds(60)) async throws(MailError) {
        guard !message.to.isEmpty else { throw MailError("the message has no recipient") }
        for address in [message.from] + message.to where !MailAddress.isPlausible(address) {
            throw MailError("“\(address)” is not an e-mail address")
        }
        guard let port = server.address.port, (1...65535).contains(port) else { throw MailError("port \(server.address.port ?? 0) is not a port") }
        do {
            try await SMTPSession.run(message, server: server, timeout: timeout)
        } catch let error as MailError {
            throw error
        } catch {
            throw MailError("\(server.host): \(error)")
        }
    }
}

/// One reply: its code and its lines' text.
struct SMTPReply: Sendable, Equatable {
    let code: Int
    let lines: [String]

    var text: String { "\(code) " + lines.joined(separator: " ") }
}

/// One connection, command by command.
private struct SMTPSession {
    let channel: any Channel
    var replies: AsyncThrowingStream<SMTPReply, any Error>.AsyncIterator
    let server: MailServer

    static func run(_ message: MailMessage, server: MailServer, timeout: Duration) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = server.additionalTrustRoots.isEmpty ? [] : [.certificates(server.additionalTrustRoots)]
        let sslContext = try NIOSSLContext(configuration: tls)
        // SNI takes names only; for an address the certificate is checked against the address connected to.
        let serverName = IPAddressText.isAddress(server.host) ? nil : server.host
        // Bounded: a server that floods replies fills no memory, it only falls out of step (and is cut off).
        let (stream, continuation) = AsyncThrowingStream<SMTPReply, any Error>.makeStream(bufferingPolicy: .bufferingOldest(16))
        let implicitTLS = server.security == .implicitTLS
        let upgrade = TLSUpgrade(context: sslContext, serverName: serverName)
        let host = server.host
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if implicitTLS {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            SMTPReplyReader(continuation, host: host, upgrade: upgrade, encrypted: implicitTLS)
                        )
                    }
                }
                .connect(to: server.address).get()
        } catch {
            throw MailError(
                "cannot connect to \(server.host) (\(server.address.ipAddress ?? "?") port \(server.address.port ?? 0)): \(error)", notConnected: true
            )
        }
        // A server that stops answering ends the connection, and with it every wait for a reply.
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.close(promise: nil) }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        // A cancelled task (a Berth shutting down) ends the exchange at once rather than at the deadline.
        try await withTaskCancellationHandler {
            var session = SMTPSession(channel: channel, replies: stream.makeAsyncIterator(), server: server)
            try await session.submit(message, upgrade: upgrade, serverName: serverName, timeout: timeout)
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    mutating func submit(_ message: MailMessage, upgrade: TLSUpgrade, serverName: String?, timeout: Duration) async throws {
        try await expect(220, after: "connecting", timeout: timeout)
        var extensions = try await hello(timeout: timeout)
        var encrypted = server.security == .implicitTLS
        if !encrypted, extensions.keys.contains("STARTTLS") {
            // The reader puts TLS in place on the very reply that allows it, so that nothing sent in the clear after
            // it can pass for what came encrypted (RFC 3207, 6).
            upgrade.arm()
            try await command("STARTTLS", expect: 220, timeout: timeout)
            encrypted = true
            // What was offered before TLS counts for nothing after it (RFC 3207, 4.2).
            extensions = try await hello(timeout: timeout)
        }
        if let username = server.username, !username.isEmpty {
            guard encrypted else {
                throw MailError("\(server.host) does not offer STARTTLS, and a password is never sent unencrypted", permanent: true)
            }
            try await authenticate(username: username, password: server.password ?? "", offered: extensions["AUTH"] ?? [], timeout: timeout)
        }
        try await command("MAIL FROM:<\(message.from)>", expect: 250, timeout: timeout)
        for recipient in message.to {
            try await command("RCPT TO:<\(recipient)>", expect: 250, 251, timeout: timeout)
        }
        try await command("DATA", expect: 354, timeout: timeout)
        try await write(MailFormat.data(message, messageIdDomain: serverName ?? "berth.invalid"))
        try await expect(250, after: "sending the message", timeout: timeout)
        try? await write("QUIT\r\n")
    }

    /// EHLO, and what the server offers: `STARTTLS`, `AUTH` with its mechanisms, ….
    mutating func hello(timeout: Duration) async throws -> [String: [String]] {
        let reply = try await command("EHLO \(MailFormat.helloName())", expect: 250, 500, 502, timeout: timeout)
        guard reply.code == 250 else {
            // A server that knows no extensions (RFC 5321, 3.2).
            try await command("HELO \(MailFormat.helloName())", expect: 250, timeout: timeout)
            return [:]
        }
        var extensions: [String: [String]] = [:]
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ").map { String($0).uppercased() }
            if let keyword = words.first { extensions[keyword] = Array(words.dropFirst()) }
        }
        return extensions
    }

    mutating func authenticate(username: String, password: String, offered: [String], timeout: Duration) async throws {
        if offered.contains("PLAIN") {
            let token = Data("\u{0}\(username)\u{0}\(password)".utf8).base64EncodedString()
            try await command("AUTH PLAIN \(token)", expect: 235, timeout: timeout, shown: "AUTH PLAIN")
        } else if offered.contains("LOGIN") {
            try await command("AUTH LOGIN", expect: 334, timeout: timeout)
            try await command(Data(username.utf8).base64EncodedString(), expect: 334, timeout: timeout, shown: "the user name")
            try await command(Data(password.utf8).base64EncodedString(), expect: 235, timeout: timeout, shown: "the password")
        } else {
            throw MailError("\(server.host) offers no sign-in Berth knows (PLAIN, LOGIN)" + (offered.isEmpty ? "" : "; it offers \(offered.joined(separator: ", "))"))
        }
    }

    /// Sends one command line and waits for a reply with one of the codes; `shown` names it in errors instead of its text.
    @discardableResult
    mutating func command(_ line: String, expect codes: Int..., timeout: Duration, shown: String? = nil) async throws -> SMTPReply {
        try await write(line + "\r\n")
        return try await expect(codes, after: shown ?? line, timeout: timeout)
    }

    @discardableResult
    mutating func expect(_ codes: Int..., after step: String, timeout: Duration) async throws -> SMTPReply {
        try await expect(codes, after: step, timeout: timeout)
    }

    mutating func expect(_ codes: [Int], after step: String, timeout: Duration) async throws -> SMTPReply {
        let reply: SMTPReply?
        do {
            reply = try await replies.next()
        } catch let error as MailError {
            throw error
        } catch {
            throw MailError("\(server.host) after \(step): \(error)")
        }
        guard let reply else {
            throw MailError("\(server.host) closed the connection after \(step) (or gave no answer within \(timeout))")
        }
        guard codes.contains(reply.code) else {
            throw MailError("\(server.host) refused \(step): \(reply.text)", permanent: (500...599).contains(reply.code))
        }
        return reply
    }

    mutating func write(_ text: String) async throws {
        do {
            try await channel.writeAndFlush(ByteBuffer(string: text)).get()
        } catch {
            // Why the connection closed (a refused TLS handshake) says more than the failed write does.
            _ = try await replies.next()
            throw error
        }
    }
}

/// STARTTLS, armed by the session before it sends the command and carried out by the reader on the `220` reply.
final class TLSUpgrade: Sendable {
    let context: NIOSSLContext
    let serverName: String?
    private let armed = NIOLockedValueBox(false)

    init(context: NIOSSLContext, serverName: String?) {
        self.context = context
        self.serverName = serverName
    }

    func arm() { armed.withLockedValue { $0 = true } }

    /// Whether the next reply is the one to STARTTLS (and disarms).
    func take() -> Bool { armed.withLockedValue { armed in defer { armed = false }; return armed } }
}

/// Reads replies: lines `250-…` continue one, `250 …` ends it. A server that sends endless lines is cut off. It puts
/// TLS in place after STARTTLS, and says a failure during a TLS handshake is one.
final class SMTPReplyReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation
    private let host: String
    private let upgrade: TLSUpgrade
    /// A TLS handshake is under way (implicit TLS from the start, or after STARTTLS) and not finished.
    private var handshaking: Bool
    private var pending: [UInt8] = []
    private var lines: [String] = []

    init(_ continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation, host: String, upgrade: TLSUpgrade, encrypted: Bool) {
        self.continuation = continuation
        self.host = host
        self.upgrade = upgrade
        handshaking = encrypted
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending[..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            pending.removeSubrange(...newline)
            let text = String(decoding: line, as: UTF8.self)
            guard text.count >= 3, let code = Int(text.prefix(3)), (200...599).contains(code) else {
                fail(context, MailError("the server sent something that is not an SMTP reply: \(text.prefix(80))"))
                return
            }
            let separator = text.dropFirst(3).first
            guard separator == nil || separator == " " || separator == "-" else {
                fail(context, MailError("the server sent something that is not an SMTP reply: \(text.prefix(80))"))
                return
            }
            lines.append(String(text.dropFirst(4)))
            guard separator == "-" else {
                let reply = SMTPReply(code: code, lines: lines)
                lines = []
                if upgrade.take(), code == 220 {
                    guard pending.isEmpty else {
                        fail(context, MailError("\(host) sent more after agreeing to STARTTLS, in the clear: refused"))
                        return
                    }
                    do {
                        try context.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: upgrade.context, serverHostname: upgrade.serverName), position: .first
                        )
                        handshaking = true
                    } catch {
                        fail(context, MailError("TLS with \(host) could not start: \(error)"))
                        return
                    }
                }
                continuation.yield(reply)
                continue
            }
            if lines.count > 100 {
                fail(context, MailError("the server's reply ran past 100 lines"))
                return
            }
        }
        if pending.count > 4096 { fail(context, MailError("the server sent a line longer than 4096 bytes")) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { handshaking = false }
        context.fireUserInboundEventTriggered(event)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: MailError) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, handshaking ? MailError("TLS with \(host) failed: " + Self.tlsReason(error)) : MailError("\(host): \(error)"))
    }

    /// BoringSSL's reason in words where it is a common one, with its own text for whoever digs further.
    static func tlsReason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "its certificate is not trusted (signed by an unknown CA, expired, or for another name) — \(text)"
        }
        return text
    }
}

/// The message as it travels after DATA: headers, a base64 body (any text, any line length, whatever the server
/// supports), the end mark.
enum MailFormat {
    static func data(_ message: MailMessage, messageIdDomain: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let headers = [
            "From: \(message.from)",
            // One address a line: fifty long ones stay within a header line's 998 characters.
            "To: \(message.to.joined(separator: ",\r\n "))",
            "Subject: \(encodedWord(message.subject))",
            "Date: \(formatter.string(from: message.date))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(messageIdDomain)>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "Auto-Submitted: auto-generated",
        ]
        let body = Data(message.body.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        // Base64 lines never start with a dot, so no line needs dot-stuffing.
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + body + "\r\n.\r\n"
    }

    /// A header value as RFC 2047 words when it is not plain ASCII, or could break the header (CR, LF).
    static func encodedWord(_ text: String) -> String {
        let printable = text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }
        guard !printable || text.count > 900 else { return text }
        // Whole scalars (whole UTF-8 sequences) per word, each word's encoding short enough for a line.
        var words: [String] = []
        var chunk = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.map({ $0 == "\r" || $0 == "\n" ? " " : $0 }) {
            if !chunk.isEmpty, String(chunk).utf8.count + String(scalar).utf8.count > 45 {
                words.append(String(chunk))
                chunk = String.UnicodeScalarView()
            }
            chunk.append(scalar)
        }
        if !chunk.isEmpty { words.append(String(chunk)) }
        return words.map { "=?UTF-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    /// The name Berth greets with: this machine's, when it is one a server would take.
    static func helloName() -> String {
        let name = ProcessInfo.processInfo.hostName
        let allowed = name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "." || $0 == "-" }
        return !name.isEmpty && allowed && name.contains(".") ? name : "[127.0.0.1]"
    }
}

/// What Berth accepts as an address to write to: `local@domain`, nothing that could end the command line or smuggle
/// another one.
public enum MailAddress {
    public static func isPlausible(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, address.utf8.count <= 254 else { return false }
        return address.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !"<>()[]\\,;:\"".unicodeScalars.contains($0) }
    }
}

enum IPAddressText {
    static func isAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
