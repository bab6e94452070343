import EngineAPI
import Foundation
import Hummingbird

/// What the shared stats stream of one container passes to its subscribers.
enum StatsMessage: Sendable {
    case sample(StatsPoint)
    case engine(up: Bool, message: String)
    case ended(reason: String)
}

/// One sample as the page draws it: the numbers `docker stats` shows.
struct StatsPoint: Encodable, Sendable {
    /// Percent of one CPU; nil before the engine has two samples.
    let cpu: Double?
    let memory: UInt64?
    let memoryLimit: UInt64?
    let networkReceived: UInt64
    let networkSent: UInt64
    let blockRead: UInt64
    let blockWritten: UInt64
    let pids: UInt64?
    let read: String?

    init(_ sample: ContainerStatsSample) {
        cpu = sample.cpuPercent.map { ($0 * 100).rounded() / 100 }
        memory = sample.memoryUsed
        memoryLimit = sample.memoryLimit
        let network = sample.networkBytes
        networkReceived = network.received
        networkSent = network.sent
        let block = sample.blockBytes
        blockRead = block.read
        blockWritten = block.written
        pids = sample.pidsStats?["current"]
        read = sample.read
    }
}

/// A container's live resource use. Every page watching one container shares one upstream stats stream.
struct StatsController: Sendable {
    let streamer: EventStreamer

    func addRoutes(to routes: Routes) {
        let routes = routes.on(.named)
        routes.get("/containers/{id}/stats/stream", .viewContainers, use: stream)
    }

    @Sendable func stream(_ request: Request, context: SignedInContext) async throws -> Response {
        let engine = try context.engine.client
        let id = try context.parameters.require("id")
        let inspect = try await engine.inspectContainerForPage(id)
        let topic = inspect.id
        let broadcaster = try context.engine.stats
        return streamer.response(
            for: context, capacity: 16,
            render: Self.render,
            attach: { mailbox in
                broadcaster.subscribe(mailbox, to: topic)
                return { broadcaster.unsubscribe(mailbox, from: topic) }
            }
        )
    }

    @Sendable static func render(_ message: StatsMessage) -> ServerSentEvent? {
        switch message {
        case .sample(let point): return ServerSentEvent(event: "stats", encoding: point)
        case .engine(let up, let message):
            return ServerSentEvent(event: "engine", encoding: EngineStatus(state: up ? "up" : "down", message: message))
        case .ended(let reason): return .end(reason, final: true)
        }
    }

    /// One `/containers/{id}/stats` connection per watched container, restarted when the engine comes back.
    static func upstream(engine: EngineClient) -> Broadcaster<StatsMessage>.Upstream {
        { container, _, publish in
            var outage = EngineOutage()
            while !Task.isCancelled {
                do {
                    let samples = try await engine.containerStats(container)
                    if let message = outage.recovered() { publish(.engine(up: true, message: message)) }
                    for try await sample in samples {
                        publish(.sample(StatsPoint(sample)))
                    }
                    // The engine ends the stream when the container goes away or the engine stops; find out which.
                    _ = try await engine.inspectContainer(container)
                    await outage.pause()
                } catch let error as EngineError where error.kind == .notFound {
                    publish(.ended(reason: "The container was removed."))
                    return
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    if let message = outage.failed(error) { publish(.engine(up: false, message: message)) }
                    await outage.pause()
                }
            }
        }
    }
}
