import Foundation
import NIOCore
import NIOSSH

// One engine connection over SSH is a pair: the connection accepted on the tunnel's local socket
// (`LocalRelayHandler`) and a session channel on the shared SSH connection that runs `docker system dial-stdio`
// (`SessionRelayHandler`). Both channels live on the tunnel's one event loop, so each handler calls the other
// directly. Each side reads only while the other can take what it reads: a slow reader slows the writer, through the
// SSH window on one side and the socket on the other.

/// The local end: what the transport writes goes to the session, what the session's stdout brings comes back.
final class LocalRelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    /// Set once the host runs the command; until then nothing is read (a request is never sent into the void).
    private var session: SessionRelayHandler?
    private var readHeld = false
    /// Called once the connection is active: finds the SSH connection and opens the session.
    private var onActive: ((LocalRelayHandler, any Channel) -> Void)?

    init(onActive: @escaping (LocalRelayHandler, any Channel) -> Void) {
        self.onActive = onActive
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        let onActive = self.onActive
        self.onActive = nil
        onActive?(self, context.channel)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.session = nil
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    /// The session runs `docker system dial-stdio`: what the transport wrote may go now.
    func joined(_ session: SessionRelayHandler) {
        self.session = session
        sessionWritable()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session?.send(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.flush()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The transport is done writing (an exec's input ended): the host's process gets EOF on its stdin.
        if let event = event as? ChannelEvent, case .inputClosed = event { session?.finishInput() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.close()
        session = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session?.localWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let session, session.isWritable {
            context.read()
        } else {
            readHeld = true
        }
    }

    // MARK: - From the session

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    /// Closes once what was written has reached the socket (a close would drop writes still queued).
    func closeAfterWrites() {
        guard let context else { return }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func sessionWritable() {
        guard readHeld, let session, session.isWritable else { return }
        readHeld = false
        context?.read()
    }
}

/// The session channel: asks the host to run the command, then relays its stdout to the local end and the local
/// end's bytes to its stdin. Its stderr is kept (bounded) to say why it ended when it ended before any output.
final class SessionRelayHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    /// How much of the command's stderr is kept for a message.
    static let stderrLimit = 4096

    private let local: LocalRelayHandler
    private let command: String
    /// Told once: whether the command answered, or why not (nil: it ended without a word, as after a close).
    private let outcome: (SessionOutcome) -> Void
    private var context: ChannelHandlerContext?
    private var readHeld = false
    private var started = false
    private var sawOutput = false
    private var stderr = ByteBuffer()
    private var exitStatus: Int?

    enum SessionOutcome {
        case answered
        case failed(String)
    }

    init(local: LocalRelayHandler, command: String, outcome: @escaping (SessionOutcome) -> Void) {
        self.local = local
        self.command = command
        self.outcome = outcome
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Without it, the host's EOF on stdout would close the channel before the exit status arrives.
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).assumeIsolated().whenFailure { error in
            context.fireErrorCaught(error)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExecRequest(command: command, wantReply: true), promise: nil)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelSuccessEvent where !started:
            started = true
            if local.isActive { local.joined(self) } else { context.close(promise: nil) }
        case is ChannelFailureEvent where !started:
            outcome(.failed("the host refused to run `\(command)`"))
            context.close(promise: nil)
        case let status as SSHChannelRequestEvent.ExitStatus:
            exitStatus = status.exitStatus
        case let event as ChannelEvent where event == .inputClosed:
            // The command's stdout ended: the engine closed its side. A command that ended without a word (no docker
            // on the host) is named with its exit status, which the host sends after this end: closing the local side
            // now could close the channel before it arrives (seen in CI), so the channel's close does it then.
            if sawOutput { local.closeAfterWrites() }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .byteBuffer(var bytes) = message.data else { return }
        switch message.type {
        case .channel:
            if !sawOutput {
                sawOutput = true
                outcome(.answered)
            }
            local.write(bytes)
        case .stdErr:
            let room = Self.stderrLimit - stderr.readableBytes
            if room > 0, let kept = bytes.readSlice(length: min(room, bytes.readableBytes)) { stderr.writeImmutableBuffer(kept) }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        local.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !sawOutput, let failure = failure { outcome(.failed(failure)) }
        local.closeAfterWrites()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { local.sessionWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if local.isWritable {
            context.read()
        } else {
            readHeld = true
        }
    }

    /// Why the command ended before it said anything, if it said why or failed.
    private var failure: String? {
        let words = String(buffer: stderr).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
        let status = exitStatus.map { " (exit status \($0))" } ?? ""
        if let exitStatus, exitStatus != 0 {
            return "`\(command)` failed on the host\(status)\(words.isEmpty ? "" : ": \(words)")"
        }
        return words.isEmpty ? nil : "`\(command)` ended on the host\(status): \(words)"
    }

    // MARK: - From the local end

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func send(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))), promise: nil)
    }

    func flush() { context?.flush() }

    /// EOF on the command's stdin, after what was sent.
    func finishInput() { context?.close(mode: .output, promise: nil) }

    func close() { context?.close(promise: nil) }

    func localWritable() {
        guard readHeld, local.isWritable else { return }
        readHeld = false
        context?.read()
    }
}
