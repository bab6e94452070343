import AsyncHTTPClient
import NIOCore

/// A container's log output as an asynchronous sequence of frames, read from the engine as it arrives.
///
/// Multiplexed for ordinary containers, raw (stream ``LogStreamKind/tty``) for TTY containers.
public struct ContainerLogs: AsyncSequence, Sendable {
    public typealias Element = LogFrame

    let body: HTTPClientResponse.Body
    let tty: Bool
    let address: String

    public func makeAsyncIterator() -> Iterator {
        Iterator(body: body.makeAsyncIterator(), tty: tty, address: address)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var body: HTTPClientResponse.Body.AsyncIterator
        let tty: Bool
        let address: String
        var demultiplexer = LogDemultiplexer()
        var pending: [LogFrame] = []

        public mutating func next() async throws -> LogFrame? {
            while pending.isEmpty {
                guard var chunk = try await body.nextChunk(address: address) else { return nil }
                if tty {
                    return LogFrame(stream: .tty, bytes: chunk.readBytes(length: chunk.readableBytes) ?? [])
                }
                pending = demultiplexer.feed(chunk).reversed()
            }
            return pending.popLast()
        }
    }

    /// The same output, a read at a time: all the frames one read from the socket completed. Cheaper than frame by
    /// frame for a fast log, whose reads hold hundreds of small frames.
    public var batches: Batches { Batches(logs: self) }

    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = [LogFrame]
        let logs: ContainerLogs

        public func makeAsyncIterator() -> BatchIterator {
            BatchIterator(frames: logs.makeAsyncIterator())
        }
    }

    public struct BatchIterator: AsyncIteratorProtocol {
        var frames: Iterator

        public mutating func next() async throws -> [LogFrame]? {
            if let first = try await frames.next() {
                defer { frames.pending.removeAll() }
                return [first] + frames.pending.reversed()
            }
            return nil
        }
    }

    /// Reads everything (for short, finished output) and returns it with stdout and stderr apart.
    public func collect() async throws -> CollectedLogs {
        var logs = CollectedLogs()
        for try await frame in self {
            switch frame.stream {
            case .stderr: logs.stderr += frame.bytes
            default: logs.stdout += frame.bytes
            }
        }
        return logs
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

/// A container's whole output, stdout (and TTY output) apart from stderr.
public struct CollectedLogs: Sendable, Equatable {
    public var stdout: [UInt8] = []
    public var stderr: [UInt8] = []

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}
