@testable import BerthWeb
import EngineAPI
import Foundation
import Hummingbird
import Logging
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// The application on a real listening socket, for tests that read event streams as a browser does.
struct LiveStreamApp: Sendable {
    let client: any TestClientProtocol
    let app: TestApp
    let streams: StreamCounters
    let base: String

    func open(_ path: String, as browser: Browser?, lastEventID: String? = nil) async throws -> EventStreamConnection {
        try await EventStreamConnection.open(base + path, cookie: browser?.cookie, lastEventID: lastEventID)
    }
}

func withLiveStreamApp(
    engine: EngineAddress? = nil, heartbeat: Duration = .milliseconds(300),
    configure: (inout AppConfiguration) -> Void = { _ in },
    _ body: @Sendable (LiveStreamApp) async throws -> Void
) async throws {
    let directory = try Repository.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = TestApp.configuration(directory: directory, engine: try engine ?? TestEngine.address())
    configuration.streamHeartbeat = heartbeat
    configure(&configuration)
    let built = try await buildRouter(configuration)
    var logger = Logger(label: "berth.test")
    logger.logLevel = .warning
    let app = Application(
        router: built.routes.router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), services: built.services,
        logger: logger
    )
    let testApp = TestApp(configuration: configuration)
    let streams = built.streams
    try await app.test(.live) { client in
        let port = try #require(client.port)
        try await body(LiveStreamApp(client: client, app: testApp, streams: streams, base: "http://127.0.0.1:\(port)"))
    }
}

/// The log lines of `logs` events, in order, until `predicate` holds for what was collected (or the time is up).
func collectLines(
    _ stream: EventStreamConnection, timeout: Duration = .seconds(15), until predicate: ([LogLineSeen]) -> Bool
) async -> (lines: [LogLineSeen], events: [ReceivedEvent]) {
    let deadline = ContinuousClock.now + timeout
    var lines: [LogLineSeen] = []
    var events: [ReceivedEvent] = []
    while !predicate(lines), ContinuousClock.now < deadline {
        guard let event = await stream.next(timeout: deadline - ContinuousClock.now) else { break }
        events.append(event)
        if event.event == "logs" { lines += LogLineSeen.parse(event) }
    }
    return (lines, events)
}

struct LogLineSeen: Sendable, Equatable {
    let container: String
    let stream: String
    let text: String
    let truncated: Bool
    let eventID: String?

    static func parse(_ event: ReceivedEvent) -> [LogLineSeen] {
        guard let lines = event.json?["lines"] as? [[String: Any]] else { return [] }
        return lines.map {
            LogLineSeen(
                container: $0["c"] as? String ?? "", stream: $0["s"] as? String ?? "", text: $0["x"] as? String ?? "",
                truncated: $0["truncated"] as? Bool ?? false, eventID: event.id
            )
        }
    }
}

/// This process's resident memory, from /proc.
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    let kib = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
    return kib * 1024
}

/// A browser that sends its request and then never reads: its socket's receive window fills and stays full.
final class StalledReader: Sendable {
    let channel: any Channel

    init(port: Int, path: String, cookie: String) async throws {
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: "127.0.0.1", port: port)
            .get()
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: \(cookie)\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request))
    }

    func close() async {
        try? await channel.close()
    }
}
