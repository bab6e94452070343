import Hummingbird
import NIOCore

/// `/metrics`: Prometheus text exposition, for a scraper on this machine or a signed-in admin.
struct MetricsController: Sendable {
    let metrics: BerthMetrics
    let streams: StreamCounters

    func addRoutes(to routes: Routes) {
        routes.get("/metrics", .readMetrics, use: exposition)
    }

    @Sendable func exposition(_ request: Request, context: BerthRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition(streams: streams)))
        )
    }
}
