import AsyncHTTPClient
import Foundation
import NIOCore

/// A streaming endpoint's answer (`/events`, `/containers/{id}/stats`): one JSON document per line, decoded as it
/// arrives.
public struct JSONLines<Element: Decodable & Sendable>: AsyncSequence, Sendable {
    /// One document is a few KiB; a longer line means a misbehaving daemon, not something to buffer.
    static var lineLimit: Int { 4 * 1024 * 1024 }

    let body: HTTPClientResponse.Body
    let address: String

    public func makeAsyncIterator() -> Iterator {
        Iterator(body: body.makeAsyncIterator(), address: address)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var body: HTTPClientResponse.Body.AsyncIterator
        let address: String
        var buffer: [UInt8] = []
        var ready: [Element] = []
        let decoder = JSONDecoder()

        public mutating func next() async throws -> Element? {
            while ready.isEmpty {
                guard let chunk = try await body.nextChunk(address: address) else {
                    defer { buffer.removeAll() }
                    return try decodeLine(buffer[...])
                }
                buffer.append(contentsOf: chunk.readableBytesView)
                var start = 0
                while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    if let element = try decodeLine(buffer[start..<newline]) { ready.append(element) }
                    start = newline + 1
                }
                buffer.removeFirst(start)
                guard buffer.count <= JSONLines.lineLimit else {
                    throw EngineError.invalidResponse("a streamed document is longer than \(JSONLines.lineLimit) bytes")
                }
            }
            return ready.removeFirst()
        }

        private func decodeLine(_ line: ArraySlice<UInt8>) throws -> Element? {
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }) else { return nil }
            do {
                return try decoder.decode(Element.self, from: Data(line))
            } catch {
                throw EngineError.invalidResponse("cannot read \(Element.self): \(error)")
            }
        }
    }
}

extension HTTPClientResponse.Body.AsyncIterator {
    /// The next piece of a streamed answer; a broken connection becomes ``EngineError/unreachable(address:reason:)``.
    mutating func nextChunk(address: String) async throws -> ByteBuffer? {
        do {
            return try await next()
        } catch let error as CancellationError {
            throw error
        } catch {
            throw EngineError.unreachable(address: address, reason: EngineTransport.reason(for: error))
        }
    }
}
