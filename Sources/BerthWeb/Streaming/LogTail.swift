import EngineAPI
import Foundation

/// The live tail of one container's log that every stream showing it shares: one engine connection with `follow`,
/// however many pages watch (``LogFollower`` joins it). It reads from the moment its first follower joined, keeps
/// reading across stops and starts of the container and restarts of the engine, and resumes after the last line it
/// read so that nothing is lost or repeated. It runs as the upstream of a ``Broadcaster`` topic (the container id):
/// started by the first follower, cancelled when the last one leaves.
struct LogTail: Sendable {
    let engine: EngineClient
    let container: String
    /// When its first follower joined: the followers' catch-ups read up to at least then.
    let since: LogTimestamp
    var retryDelay: Duration = .milliseconds(500)
    var pollInterval: Duration = .seconds(2)
    let publish: @Sendable (LogStreamMessage) -> Void

    static let stoppedMessage = "The container is not running; new output shows when it starts."

    static func upstream(engine: EngineClient) -> Broadcaster<LogStreamMessage>.Upstream {
        { container, opened, publish in
            await LogTail(engine: engine, container: container, since: LogTimestamp(date: opened), publish: publish).run()
        }
    }

    func run() async {
        var position: LogPosition?
        var outage = EngineOutage(firstDelay: retryDelay)
        var waitingForSlot = false
        while !Task.isCancelled {
            var options = LogOptions(timestamps: true, follow: true)
            options.since = (position?.timestamp ?? since).description
            do {
                // Asks the engine whether the container has a TTY (each time: a restarted engine may have a new one).
                let logs = try await engine.containerLogs(container, options: options)
                if waitingForSlot {
                    waitingForSlot = false
                    publish(.status(container: container, state: "running", message: "Following again."))
                }
                if let message = outage.recovered() {
                    publish(.status(container: container, state: "engine-up", message: message))
                }
                var filter = LogPositionFilter(resumePoint: position, floor: position == nil ? since : nil)
                var assembler = LogLineAssembler(timestamps: true)
                for try await frames in logs.batches {
                    var lines = LogBatch()
                    for frame in frames { assembler.feed(frame, into: &lines) }
                    filter.keepNew(&lines, position: &position)
                    if !lines.isEmpty { publish(.lines(container: container, lines)) }
                }
                var rest = LogBatch()
                assembler.finish(into: &rest)
                filter.keepNew(&rest, position: &position)
                if !rest.isEmpty { publish(.lines(container: container, rest)) }
                // A followed log ends when the container stops: wait for it to run again.
                guard await waitUntilRunning() else { return }
            } catch let error as EngineError {
                if case .busy(let message) = error {
                    // Berth's own cap on engine connections: wait for a free one, saying so once.
                    if !waitingForSlot {
                        waitingForSlot = true
                        publish(.status(container: container, state: "waiting", message: message))
                    }
                    try? await Task.sleep(for: retryDelay * 4)
                    continue
                }
                if case .unreachable = error {
                    if let message = outage.failed(error) {
                        publish(.status(container: container, state: "engine-down", message: message))
                    }
                    await outage.pause()
                    continue
                }
                if error.kind == .conflict {
                    // Dead, or being removed: wait until it runs again or is gone.
                    guard await waitUntilRunning() else { return }
                    continue
                }
                let reason = error.kind == .notFound ? "The container was removed." : error.description
                publish(.ended(container: container, reason: reason))
                return
            } catch {
                return
            }
        }
    }

    /// Polls until the container runs again (true), or is removed or the tail is cancelled (false).
    private func waitUntilRunning() async -> Bool {
        var told = false
        while !Task.isCancelled {
            do {
                let inspect = try await engine.inspectContainer(container)
                if inspect.state?.running == true {
                    if told { publish(.status(container: container, state: "running", message: "The container runs again.")) }
                    return true
                }
                if !told {
                    told = true
                    publish(.status(container: container, state: "stopped", message: Self.stoppedMessage))
                }
            } catch let error as EngineError where error.kind == .notFound {
                publish(.ended(container: container, reason: "The container was removed."))
                return false
            } catch is EngineError {
                // The engine is away: the next read reports it.
                return true
            } catch {
                return false
            }
            try? await Task.sleep(for: pollInterval)
        }
        return false
    }
}
