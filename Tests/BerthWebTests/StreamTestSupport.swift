@testable import BerthWeb
import EngineAPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// The application on a real listening socket as `berth serve` builds it (its connection guard included), for tests
/// that read event streams as a browser does.
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
        router: built.responder, server: try serverBuilder(configuration, webSocketRouter: built.routes.router),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)), services: built.services, logger: logger
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

/// A raw client socket, as an attacker's, a forgotten tab's or a page that stopped reading (with a small receive
/// buffer). Reads never block a thread: a server under test in this process runs on the same few.
final class RawConnection: Sendable {
    private let descriptor: NIOLockedValueBox<Int32>

    /// The socket; -1 once closed.
    var socket: Int32 { descriptor.withLockedValue { $0 } }

    init(port: Int, receiveBuffer: Int32? = nil) throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw TestSetupError("socket: \(errno)") }
        descriptor = NIOLockedValueBox(socket)
        if var size = receiveBuffer {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestSetupError("connect: \(errno)") }
    }

    /// The port this end was given.
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Bytes the server has written to this connection that the kernel still holds unsent (`tx_queue` of the
    /// server's end in /proc/net/tcp, or tcp6 for a server listening on both).
    func serverSendQueue(serverPort: Int) throws -> Int? {
        // Read to the end by hand: a /proc file says it is empty, and Foundation then reads only its first page.
        var table = ""
        for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let file = fopen(path, "r") else { throw TestSetupError("\(path): \(errno)") }
            defer { fclose(file) }
            var buffer = [UInt8](repeating: 0, count: 65536)
            while case let count = fread(&buffer, 1, buffer.count, file), count > 0 {
                table += String(decoding: buffer[0..<count], as: UTF8.self)
            }
        }
        func hex(_ port: Int) -> String {
            let digits = String(port, radix: 16, uppercase: true)
            return ":" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        let local = hex(serverPort), remote = hex(localPort)
        for row in table.split(separator: "\n") {
            let fields = row.split(separator: " ")
            guard fields.count > 4, fields[1].hasSuffix(local), fields[2].hasSuffix(remote) else { continue }
            return Int(fields[4].split(separator: ":")[0], radix: 16)
        }
        return nil
    }

    /// Asks for an event stream as `EventSource` does.
    static func eventStream(port: Int, path: String, cookie: String, receiveBuffer: Int32 = 4096) throws -> RawConnection {
        let connection = try RawConnection(port: port, receiveBuffer: receiveBuffer)
        connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: \(cookie)\r\n\r\n")
        return connection
    }

    func send(_ text: String) { _ = text.withCString { Glibc.send(socket, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }

    /// Bytes that have arrived, up to `limit`, without waiting: empty when none have; nil once the peer closed.
    func receiveNow(limit: Int = 65536) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { return Array(buffer[0..<count]) }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return [] }
        return nil
    }

    /// What arrives within `timeout`, until the server closes; nil while the connection is still open then.
    func readUntilClosed(timeout: Duration) async throws -> String? {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let bytes = receiveNow(limit: 4096) else { return String(decoding: received, as: UTF8.self) }
            if !bytes.isEmpty {
                received += bytes
                continue
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// The first bytes that arrive within `timeout`.
    func firstBytes(timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let bytes = receiveNow(limit: 4096) else { return nil }
            if !bytes.isEmpty { return String(decoding: bytes, as: UTF8.self) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// What has arrived so far, without waiting.
    func partial() -> String {
        guard let bytes = receiveNow(limit: 4096) else { return "nothing (closed)" }
        return bytes.isEmpty ? "nothing (yet)" : String(decoding: bytes, as: UTF8.self)
    }

    /// Goes away as a closed tab does (what was not read is dropped: the server sees a reset).
    func close() {
        descriptor.withLockedValue { socket in
            if socket >= 0 { Glibc.close(socket) }
            socket = -1
        }
    }

    deinit { close() }
}

/// An event stream read from a ``RawConnection`` only when the test says so: what a page that stops reading for a
/// while looks like to the server.
final class RawEventReader: @unchecked Sendable {
    private let connection: RawConnection
    private var bytes: [UInt8] = []
    private var headDone = false
    /// Left of the current chunk; nil while a chunk-size line is expected.
    private var chunkLeft: Int?
    private var parser = EventStreamConnection.Parser()

    init(port: Int, path: String, cookie: String) throws {
        connection = try RawConnection.eventStream(port: port, path: path, cookie: cookie)
    }

    /// The events whose bytes have arrived, without waiting for more.
    func readEvents() async throws -> [ReceivedEvent] {
        var events: [ReceivedEvent] = []
        while true {
            guard let received = connection.receiveNow() else { throw TestSetupError("the stream closed") }
            if received.isEmpty { break }
            bytes += received
            events += decode()
            await Task.yield()
        }
        return events
    }
    /// Takes the head off, then the chunked framing, and parses what is left.
    private func decode() -> [ReceivedEvent] {
        var events: [ReceivedEvent] = []
        if !headDone {
            guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return [] }
            bytes.removeSubrange(..<end.upperBound)
            headDone = true
        }
        var index = 0
        while index < bytes.count {
            if let left = chunkLeft {
                let take = min(left, bytes.count - index)
                for byte in bytes[index..<index + take] {
                    if case .event(let event) = parser.feed(byte) { events.append(event) }
                }
                index += take
                chunkLeft = left - take == 0 ? nil : left - take
                if chunkLeft == nil {
                    // The CRLF after the chunk's data.
                    guard bytes.count - index >= 2 else {
                        chunkLeft = 0
                        break
                    }
                    index += 2
                }
            } else {
                guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else { break }
                let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
                chunkLeft = Int(sizeText.prefix { $0 != ";" }, radix: 16) ?? 0
                index = lineEnd.upperBound
            }
        }
        bytes.removeSubrange(..<index)
        return events
    }

    func close() { connection.close() }
}
