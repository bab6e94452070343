import EngineAPI

/// An upstream stream's view of engine outages: it tells its readers once when the engine goes and once when it
/// answers again, and spaces the retries out in between (half a second, doubling up to five).
struct EngineOutage: Sendable {
    private(set) var isDown = false
    private var delay: Duration
    private let firstDelay: Duration

    init(firstDelay: Duration = .milliseconds(500)) {
        self.firstDelay = firstDelay
        delay = firstDelay
    }

    /// After a successful request: the sentence announcing the engine's return, if it was away.
    mutating func recovered() -> String? {
        guard isDown else { return nil }
        isDown = false
        delay = firstDelay
        return "The engine answers again."
    }

    /// After a failed request: the sentence announcing the outage, the first time only.
    mutating func failed(_ error: any Error) -> String? {
        guard !isDown else { return nil }
        isDown = true
        return "The engine is unreachable (\(Self.reason(error))); retrying."
    }

    /// Waits before the next attempt, longer each time.
    mutating func pause() async {
        try? await Task.sleep(for: delay)
        delay = min(delay * 2, .seconds(5))
    }

    static func reason(_ error: any Error) -> String {
        if case .unreachable(_, let reason) = error as? EngineError { return reason }
        return "\(error)"
    }
}
