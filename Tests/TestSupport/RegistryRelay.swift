import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A stalled network between the engine and a test registry, for work that must outlive the page that started it:
/// a TCP relay on a loopback port in front of a real registry (`TestRegistry`). It passes every byte both ways,
/// except that while it is held, the answer to a blob download (a layer, an image config) does not come back
/// until `release()`. Registry pings and manifests pass, so the engine's pull starts and then waits, as over a
/// slow link. A real registry can't be made to stall on demand; this is the fault it injects, nothing else.
public final class RegistryRelay: Sendable {
    public let address: String
    private let port: Int
    private let upstream: (host: String, port: Int)
    private let state = NIOLockedValueBox(State())

    struct State {
        var held = false
        var listener: (any Channel)?
        /// Registry-side channels whose answers wait, and every open one.
        var waiting: [ObjectIdentifier: any Channel] = [:]
        var open: [ObjectIdentifier: any Channel] = [:]
        var blobRequests = 0
    }

    /// - Parameter registry: `host:port` of the real registry.
    public init(registry: String) {
        let parts = registry.split(separator: ":")
        upstream = (String(parts[0]), Int(parts[1]) ?? 5000)
        port = (try? LoopbackPort.free()) ?? 0
        address = "127.0.0.1:\(port)"
    }

    public func start() async throws {
        let upstream = self.upstream
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] client in
                ClientBootstrap(group: client.eventLoop)
                    .connect(host: upstream.host, port: upstream.port)
                    .flatMap { registry in
                        self.opened(registry)
                        let toRegistry = RelayHandler(partner: registry, onRequest: { target in
                            if target.contains("/blobs/") { self.blobRequested(on: registry) }
                        })
                        let toClient = RelayHandler(partner: client, onRequest: nil)
                        client.closeFuture.whenComplete { _ in registry.close(promise: nil) }
                        registry.closeFuture.whenComplete { _ in
                            self.closed(registry)
                            client.close(promise: nil)
                        }
                        return client.pipeline.addHandler(toRegistry).flatMap { registry.pipeline.addHandler(toClient) }
                    }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        state.withLockedValue { $0.listener = channel }
    }

    /// From now on blob answers wait.
    public func hold() {
        state.withLockedValue { $0.held = true }
    }

    /// Blob answers flow again, those waiting first.
    public func release() {
        let waiting = state.withLockedValue { state in
            state.held = false
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for channel in waiting {
            channel.eventLoop.execute {
                channel.setOption(.autoRead, value: true).whenSuccess { channel.read() }
            }
        }
    }

    /// Blob downloads asked for while held (and so waiting), in all.
    public var blobRequests: Int { state.withLockedValue { $0.blobRequests } }

    public func stop() async {
        release()
        let (listener, open) = state.withLockedValue { ($0.listener, Array($0.open.values)) }
        try? await listener?.close()
        for channel in open { try? await channel.close() }
    }

    private func opened(_ registry: any Channel) {
        state.withLockedValue { $0.open[ObjectIdentifier(registry)] = registry }
    }

    private func closed(_ registry: any Channel) {
        state.withLockedValue { state in
            state.open[ObjectIdentifier(registry)] = nil
            state.waiting[ObjectIdentifier(registry)] = nil
        }
    }

    private func blobRequested(on registry: any Channel) {
        let hold = state.withLockedValue { state -> Bool in
            guard state.held else { return false }
            state.blobRequests += 1
            state.waiting[ObjectIdentifier(registry)] = registry
            return true
        }
        // Before the request goes on: its answer is not read until released.
        if hold { _ = registry.setOption(.autoRead, value: false) }
    }
}
