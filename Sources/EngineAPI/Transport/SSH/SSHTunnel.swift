import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSH

/// An engine on `ssh://user@host:port`, brought to a private Unix socket, so that the transport dials it like any
/// local engine (requests through async-http-client, streams and exec sessions on connections of their own).
///
/// The socket lies in a fresh folder only Berth's user may enter (0700), removed at shutdown. Every connection
/// accepted on it becomes a session channel on one shared SSH connection that runs `docker system dial-stdio`, as the
/// docker CLI's ssh transport does, with the bytes relayed both ways and half-closes passed on. The SSH connection is
/// made when the first connection arrives, and made again (one attempt at a time) by the next one after it dropped.
/// A host caps the sessions of one connection (sshd's `MaxSessions`, 10 by default), while Berth may hold more engine
/// connections than that (followed logs): a session the host refuses on a connection that carries others is opened
/// on another connection, made for it, and that connection's cap is remembered.
/// Everything runs on one event loop, so the two ends of a relay call each other directly.
final class SSHTunnel: Sendable {
    /// What every session runs on the host.
    static let command = "docker system dial-stdio"
    /// Connecting, the host key check and signing in, together. Shorter than a ping's deadline (10 s, the first call
    /// a client makes): the caller then reads why the connection failed, not only that no answer came.
    static let connectTimeout = TimeAmount.seconds(8)
    /// How long a failure explains connections that end without an answer.
    static let failureMemory = TimeAmount.seconds(30)

    let user: String
    let host: String
    let port: Int
    private let ssh: EngineSSH.Loaded
    private let logger: Logger
    private let eventLoop: any EventLoop
    private let state = NIOLockedValueBox(State())

    private struct State {
        var listener: EventLoopFuture<Listener>?
        /// The SSH connections signed in, by their channel.
        var connections: [ObjectIdentifier: Connection] = [:]
        var connecting: EventLoopFuture<any Channel>?
        /// The connections accepted and still open, closed at shutdown.
        var accepted: [ObjectIdentifier: any Channel] = [:]
        var lastFailure: (reason: String, at: NIODeadline)?
        var closed = false
    }

    private struct Connection {
        let channel: any Channel
        var sessions = 0
        /// The sessions it carried when the host refused one more.
        var limit: Int?

        var hasRoom: Bool { channel.isActive && sessions < (limit ?? .max) }
    }

    private struct Listener {
        let channel: any Channel
        let directory: String
        let socketPath: String
    }

    init(user: String, host: String, port: Int, ssh: EngineSSH.Loaded, logger: Logger) {
        self.user = user
        self.host = host
        self.port = port
        self.ssh = ssh
        self.logger = logger
        self.eventLoop = MultiThreadedEventLoopGroup.singleton.next()
    }

    /// The host as known_hosts and messages name it (`[host]:port` off port 22).
    var hostName: String { KnownHosts.name(host: host, port: port) }

    /// The local socket to dial, listening from the first call on.
    func socketPath() async throws -> String {
        let listener: EventLoopFuture<Listener> = try state.withLockedValue { state in
            guard !state.closed else { throw SSHTunnelError("the engine client was shut down") }
            if let listener = state.listener { return listener }
            let listener = listen()
            state.listener = listener
            return listener
        }
        do {
            return try await listener.get().socketPath
        } catch {
            // Not remembered: the next call tries again.
            state.withLockedValue { if $0.listener === listener { $0.listener = nil } }
            throw error
        }
    }

    /// A recent reason why the SSH connection or a session failed, for a connection that ended without an answer.
    var recentFailure: String? {
        state.withLockedValue { state in
            guard let failure = state.lastFailure, failure.at + Self.failureMemory > .now() else { return nil }
            return failure.reason
        }
    }

    func shutdown() async {
        let (listener, connections, connecting, accepted) = state.withLockedValue { state in
            state.closed = true
            defer { state.accepted = [:] }
            return (state.listener, state.connections.values.map(\.channel), state.connecting, Array(state.accepted.values))
        }
        for channel in accepted { try? await channel.close() }
        connecting?.whenSuccess { $0.close(promise: nil) }
        for connection in connections { try? await connection.close() }
        if let listener = try? await listener?.get() {
            try? await listener.channel.close()
            try? FileManager.default.removeItem(atPath: listener.directory)
        }
    }

    // MARK: - The local socket

    private func listen() -> EventLoopFuture<Listener> {
        let directory: String
        do {
            directory = try Self.makePrivateDirectory()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let socketPath = directory + "/engine.sock"
        return ServerBootstrap(group: eventLoop)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            // The transport half-closes an exec's input: passed on as EOF on the command's stdin.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try accept(channel) }
            }
            .bind(unixDomainSocketPath: socketPath)
            .map { Listener(channel: $0, directory: directory, socketPath: socketPath) }
            .flatMapErrorThrowing { error in
                try? FileManager.default.removeItem(atPath: directory)
                throw error
            }
    }

    /// A new folder only this user may enter, short enough for a socket path (108 bytes at most).
    private static func makePrivateDirectory() throws -> String {
        var base = FileManager.default.temporaryDirectory.path
        if base.utf8.count > 60 { base = "/tmp" }
        var template = Array((base + "/berth-ssh-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SSHTunnelError("cannot make a private folder for the tunnel's socket in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)  // mkdtemp makes it 0700
    }

    /// On the event loop: one accepted connection, relayed once a session runs the command.
    private func accept(_ channel: any Channel) throws {
        // Once active: a connection ready at once would otherwise call back while the channel is still being set up.
        try channel.pipeline.syncOperations.addHandler(LocalRelayHandler { [self] local, channel in relay(local, channel) })
    }

    /// On the event loop: the SSH connection (made if needed), then a session for the accepted connection.
    private func relay(_ local: LocalRelayHandler, _ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let open = state.withLockedValue { state in
            if !state.closed { state.accepted[id] = channel }
            return !state.closed
        }
        guard open else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [state] _ in _ = state.withLockedValue { $0.accepted.removeValue(forKey: id) } }
        startSession(local, channel)
    }

    /// On the event loop: a connection with room for one more session, then the session.
    private func startSession(_ local: LocalRelayHandler, _ channel: any Channel) {
        connection().assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let connection):
                guard channel.isActive else { return }
                openSession(on: connection, for: local, channel: channel)
            case .failure(let error):
                fail(Self.describe(error))
                channel.close(promise: nil)
            }
        }
    }

    /// On the event loop: a session channel running the command, joined to the local end once the host runs it.
    private func openSession(on connection: any Channel, for local: LocalRelayHandler, channel: any Channel) {
        let ssh: NIOSSHHandler
        do {
            ssh = try connection.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
        } catch {
            channel.close(promise: nil)
            return
        }
        let session = SessionRelayHandler(local: local, command: Self.command) { [self] outcome in
            switch outcome {
            case .answered: state.withLockedValue { $0.lastFailure = nil }
            case .failed(let reason): fail(reason)
            }
        }
        let id = ObjectIdentifier(connection)
        let carried = state.withLockedValue { state -> Int in
            defer { state.connections[id]?.sessions += 1 }
            return state.connections[id]?.sessions ?? 0
        }
        let opened = eventLoop.makePromise(of: (any Channel).self)
        ssh.createChannel(opened, channelType: .session) { child, _ in
            child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(session) }
        }
        opened.futureResult.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let child):
                child.closeFuture.whenComplete { [state] _ in state.withLockedValue { $0.connections[id]?.sessions -= 1 } }
            case .failure(let error):
                state.withLockedValue { $0.connections[id]?.sessions -= 1 }
                if carried > 0, (error as? NIOSSHError)?.type == .channelSetupRejected {
                    state.withLockedValue { $0.connections[id]?.limit = carried }
                    logger.debug("the host refused another session on a connection; another connection", metadata: ["sessions": "\(carried)"])
                    startSession(local, channel)
                } else {
                    fail("the host refused a session channel: \(Self.describe(error))")
                    channel.close(promise: nil)
                }
            }
        }
    }

    private func fail(_ reason: String) {
        state.withLockedValue { $0.lastFailure = (reason, .now()) }
        logger.warning("engine over SSH failed", metadata: ["host": "\(hostName)", "reason": "\(reason)"])
    }

    // MARK: - The SSH connection

    /// On the event loop: a connection with room for a session, signed in; made when there is none, shared while it is
    /// being made.
    private func connection() -> EventLoopFuture<any Channel> {
        enum Next {
            case ready(EventLoopFuture<any Channel>)
            case connect(EventLoopPromise<any Channel>)
        }
        let next = state.withLockedValue { state -> Next in
            if state.closed { return .ready(eventLoop.makeFailedFuture(SSHTunnelError("the engine client was shut down"))) }
            if let ready = state.connections.values.first(where: \.hasRoom) { return .ready(eventLoop.makeSucceededFuture(ready.channel)) }
            if let connecting = state.connecting { return .ready(connecting) }
            let promise = eventLoop.makePromise(of: (any Channel).self)
            state.connecting = promise.futureResult
            return .connect(promise)
        }
        guard case .connect(let promise) = next else {
            guard case .ready(let future) = next else { preconditionFailure() }
            return future
        }
        // Outside the lock: a connect that fails at once completes (and calls back) right here.
        connect().whenComplete { [self] result in
            let stale = state.withLockedValue { state -> (any Channel)? in
                state.connecting = nil
                guard case .success(let channel) = result else { return nil }
                if state.closed { return channel }
                state.connections[ObjectIdentifier(channel)] = Connection(channel: channel)
                return nil
            }
            stale?.close(promise: nil)
            if case .success(let channel) = result, stale == nil {
                channel.closeFuture.whenComplete { [state] _ in _ = state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) } }
            }
            promise.completeWith(stale == nil ? result : .failure(SSHTunnelError("the engine client was shut down")))
        }
        return promise.futureResult
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let authenticated = eventLoop.makePromise(of: Void.self)
        let (user, host, port, hostName, ssh) = (user, host, port, hostName, ssh)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let configuration = SSHClientConfiguration(
                        userAuthDelegate: PrivateKeyOffer(user: user, key: ssh.privateKey, keyPath: ssh.keyPath, hostName: hostName),
                        serverAuthDelegate: KnownHostsCheck(
                            knownHosts: ssh.knownHosts, knownHostsPath: ssh.knownHostsPath, host: host, port: port
                        )
                    )
                    try channel.pipeline.syncOperations.addHandlers(
                        NIOSSHHandler(role: .client(configuration), allocator: channel.allocator, inboundChildChannelInitializer: nil),
                        SSHHandshakeWatcher(authenticated: authenticated, hostName: hostName)
                    )
                }
            }
        // One deadline for all of it: a host that accepts the connection and then says nothing must not hang a page.
        let timeout = eventLoop.scheduleTask(in: Self.connectTimeout) {
            authenticated.fail(SSHTunnelError("\(hostName) did not complete the SSH handshake within \(Self.connectTimeout.nanoseconds / 1_000_000_000) s"))
        }
        logger.debug("connecting to the engine's host over SSH", metadata: ["host": "\(hostName)", "user": "\(user)"])
        return bootstrap.connect(host: host, port: port)
            .flatMap { channel in
                authenticated.futureResult
                    .map { channel }
                    .flatMapErrorThrowing { error in
                        channel.close(promise: nil)
                        throw error
                    }
            }
            .always { _ in
                timeout.cancel()
                // Kept when the handshake ended; otherwise (the TCP connection failed) nothing else would complete it.
                authenticated.fail(SSHTunnelError("\(hostName) could not be reached"))
            }
            .flatMapErrorThrowing { error in throw SSHTunnelError(Self.describe(error, connecting: hostName)) }
    }

    /// A short reason for a failed connection or channel; `connecting`: the host being connected to.
    static func describe(_ error: any Error, connecting host: String? = nil) -> String {
        if let error = error as? SSHTunnelError { return error.description }
        if error is NIOSSHError { return "the SSH connection\(host.map { " to \($0)" } ?? "") failed: \(error)" }
        let reason = EngineTransport.reason(for: error)
        return host.map { "cannot connect to \($0): \(reason)" } ?? reason
    }
}
