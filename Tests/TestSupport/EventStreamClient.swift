import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One server-sent event as a browser's `EventSource` would see it.
public struct ReceivedEvent: Sendable, Equatable {
    public var event: String
    public var id: String?
    public var data: String

    /// The data parsed as a JSON object.
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
    }
}

/// Reads a `text/event-stream` response the way `EventSource` parses it, for tests: fields by line, events at blank
/// lines, comments counted apart.
public final class EventStreamConnection: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    private let received = NIOLockedValueBox<[ReceivedEvent]>([])
    private let task: Task<Void, Never>
    private let comments = NIOLockedValueBox(0)
    private let ended = NIOLockedValueBox(false)

    /// A client for many streams at once (the shared one opens at most 8 connections per host); it lives as long as the
    /// test process.
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(30), read: nil))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Opens the stream; `cookie` is the session cookie pair, `lastEventID` what a reconnecting browser sends.
    public static func open(
        _ url: String, client: HTTPClient = EventStreamConnection.client, cookie: String?, lastEventID: String? = nil
    ) async throws -> EventStreamConnection {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        let response = try await client.execute(request, timeout: .seconds(30))
        return EventStreamConnection(response: response)
    }

    init(response: HTTPClientResponse) {
        status = Int(response.status.code)
        headers = response.headers.map { ($0.name, $0.value) }
        let received = self.received
        let comments = self.comments
        let ended = self.ended
        task = Task {
            var parser = Parser()
            do {
                for try await chunk in response.body {
                    for byte in chunk.readableBytesView {
                        switch parser.feed(byte) {
                        case .event(let event): received.withLockedValue { $0.append(event) }
                        case .comment: comments.withLockedValue { $0 += 1 }
                        case .none: break
                        }
                    }
                }
            } catch {}
            ended.withLockedValue { $0 = true }
        }
    }

    /// The next event, or nil when the stream ended or nothing came within `timeout`.
    public func next(timeout: Duration = .seconds(10)) async -> ReceivedEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (event, over) = received.withLockedValue { received -> (ReceivedEvent?, Bool) in
                if !received.isEmpty { return (received.removeFirst(), false) }
                return (nil, ended.withLockedValue { $0 })
            }
            if let event { return event }
            if over || ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Events until one of type `event` comes (returned last), or nil after `timeout`.
    public func next(_ event: String, timeout: Duration = .seconds(10)) async -> (found: ReceivedEvent, before: [ReceivedEvent])? {
        let deadline = ContinuousClock.now + timeout
        var before: [ReceivedEvent] = []
        while ContinuousClock.now < deadline {
            guard let next = await next(timeout: deadline - ContinuousClock.now) else { return nil }
            if next.event == event { return (next, before) }
            before.append(next)
        }
        return nil
    }

    public var heartbeats: Int { comments.withLockedValue { $0 } }
    public var isEnded: Bool { ended.withLockedValue { $0 } }

    /// Goes away as a closed browser tab does.
    public func close() {
        task.cancel()
    }

    /// The `text/event-stream` parser, byte by byte (also for tests that read a socket themselves).
    public struct Parser: Sendable {
        public enum Output { case event(ReceivedEvent), comment, none }
        var line: [UInt8] = []
        var event = ""
        var id: String?
        var data: [String] = []
        var sawComment = false

        public init() {}

        public mutating func feed(_ byte: UInt8) -> Output {
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                return .none
            }
            defer { line.removeAll(keepingCapacity: true) }
            if line.isEmpty {
                defer { event = ""; data = []; sawComment = false }
                if !data.isEmpty {
                    return .event(ReceivedEvent(event: event.isEmpty ? "message" : event, id: id, data: data.joined(separator: "\n")))
                }
                return sawComment ? .comment : .none
            }
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix(":") {
                sawComment = true
                return .none
            }
            let name = text.prefix { $0 != ":" }
            var value = text.dropFirst(name.count)
            if value.hasPrefix(":") { value = value.dropFirst() }
            if value.hasPrefix(" ") { value = value.dropFirst() }
            switch name {
            case "event": event = String(value)
            case "id": id = String(value)
            case "data": data.append(String(value))
            default: break
            }
            return .none
        }
    }
}
