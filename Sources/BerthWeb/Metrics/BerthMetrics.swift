import Prometheus

/// Berth's operational metrics, in one Prometheus registry that `/metrics` writes out.
///
/// Requests are counted by route pattern (never the raw path: share-link tokens travel in paths), method and status;
/// stream gauges are read from the live counters at scrape time, so they can't drift.
final class BerthMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private let openStreams: Gauge
    private let upstreamStreams: Gauge
    private let loginSuccesses: Counter
    private let loginFailures: Counter
    private let auditWriteDuration: DurationHistogram
    private let auditWriteFailures: Counter

    /// The label of requests that matched no route (static files, 404s): a pattern, like every other value.
    static let unmatchedRoute = "unmatched"

    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "berth", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests answered, by route pattern, method and status."
        )
    }
    private static var logins: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "berth", metricName: "logins", unitName: "total", helpText: "Sign-in attempts, by outcome.")
    }

    init() {
        openStreams = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "berth", subsystem: "sse", metricName: "streams_open", unitName: "",
            helpText: "Server-sent event streams open to browsers now."
        ))
        upstreamStreams = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "berth", subsystem: "engine", metricName: "upstream_streams", unitName: "",
            helpText: "Shared event and stats streams open to the engine now."
        ))
        loginSuccesses = registry.makeCounter(descriptor: Self.logins, labels: [("outcome", "success")])
        loginFailures = registry.makeCounter(descriptor: Self.logins, labels: [("outcome", "failure")])
        auditWriteDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "berth", subsystem: "audit", metricName: "write_duration", unitName: "seconds",
                helpText: "Time to commit one audit record (synchronous=FULL), written or not."
            ),
            buckets: [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                      .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5)]
        )
        auditWriteFailures = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "berth", subsystem: "audit", metricName: "write_failures", unitName: "total",
            helpText: "Audit records that could not be written."
        ))
    }

    /// One answered request. `route` is the router's pattern (`/containers/{id}`) or ``unmatchedRoute``.
    func countRequest(route: String, method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
    }

    func countLogin(succeeded: Bool) {
        (succeeded ? loginSuccesses : loginFailures).increment()
    }

    func recordAuditWrite(_ duration: Duration, written: Bool) {
        auditWriteDuration.record(duration)
        if !written { auditWriteFailures.increment() }
    }

    /// The text exposition, with the stream gauges read now.
    func exposition(streams: StreamCounters) -> [UInt8] {
        openStreams.set(Int64(streams.open.openStreams))
        upstreamStreams.set(Int64(streams.upstreams))
        return registry.emitToBuffer()
    }
}
