@testable import Mail
import NIOCore
import NIOEmbedded
import NIOSSL
import Testing

/// The mail client's reply reader on its own, fed bytes as a server would send them.
@Suite struct SMTPReplyReaderTests {
    func reader(upgrade: TLSUpgrade? = nil) throws -> (EmbeddedChannel, AsyncThrowingStream<SMTPReply, any Error>, TLSUpgrade) {
        let (stream, continuation) = AsyncThrowingStream<SMTPReply, any Error>.makeStream()
        let upgrade = try upgrade ?? TLSUpgrade(context: NIOSSLContext(configuration: .makeClientConfiguration()), serverName: "localhost")
        let channel = EmbeddedChannel(handler: SMTPReplyReader(continuation, host: "mail.test", upgrade: upgrade, encrypted: false))
        return (channel, stream, upgrade)
    }

    @Test func aMultiLineReplySplitAcrossReadsIsOneReply() async throws {
        let (channel, stream, _) = try reader()
        try channel.writeInbound(ByteBuffer(string: "250-mail.test hello\r\n250-STARTTLS\r\n25"))
        try channel.writeInbound(ByteBuffer(string: "0 AUTH PLAIN LOGIN\r\n"))
        var replies = stream.makeAsyncIterator()
        let reply = try await replies.next()
        #expect(reply == SMTPReply(code: 250, lines: ["mail.test hello", "STARTTLS", "AUTH PLAIN LOGIN"]))
    }

    /// RFC 3207, 6: what a server (or someone in the middle) sends in the clear after agreeing to STARTTLS must not
    /// pass for what comes encrypted.
    @Test func bytesInTheClearAfterAgreeingToSTARTTLSAreRefused() async throws {
        let (channel, stream, upgrade) = try reader()
        upgrade.arm()
        try channel.writeInbound(ByteBuffer(string: "220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n"))
        var replies = stream.makeAsyncIterator()
        do {
            while try await replies.next() != nil {}
            Issue.record("the injected reply was read")
        } catch {
            #expect("\(error)".contains("sent more after agreeing to STARTTLS"), "\(error)")
        }
    }

    @Test func somethingThatIsNotAReplyEndsTheConnection() async throws {
        let (channel, stream, _) = try reader()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n"))
        var replies = stream.makeAsyncIterator()
        await #expect(throws: MailError.self) { _ = try await replies.next() }
        #expect(!channel.isActive)
    }
}
