import NIOCore

/// A container's log output as an asynchronous sequence of frames, read from the engine as it arrives.
///
/// Multiplexed for ordinary containers, raw (stream ``LogStreamKind/tty``) for TTY containers.
public struct ContainerLogs: AsyncSequence, Sendable {
    public typealias Element = LogFrame

    /// Read on a connection of the log's own, a socket read at a time (see ``StreamedBody``).
    let body: StreamedBody
    let tty: Bool
    let address: String

    public func makeAsyncIterator() -> Iterator {
        Iterator(reads: batches.makeAsyncIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        var reads: BatchIterator
        var pending: [LogFrame] = []
        var taken = 0

        public mutating func next() async throws -> LogFrame? {
            if taken == pending.count {
                guard let frames = try await reads.next() else { return nil }
                pending = frames
                taken = 0
            }
            defer { taken += 1 }
            return pending[taken]
        }
    }

    /// The same output, a read at a time: all the frames one piece of the answer completed. Cheaper than frame by
    /// frame for a fast log, whose reads hold many small frames.
    public var batches: Batches { Batches(logs: self) }

    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = [LogFrame]
        let logs: ContainerLogs

        public func makeAsyncIterator() -> BatchIterator {
            BatchIterator(body: logs.body.makeAsyncIterator(), tty: logs.tty, address: logs.address)
        }
    }

    public struct BatchIterator: AsyncIteratorProtocol {
        var body: StreamedBody.Producer.AsyncIterator
        let tty: Bool
        let address: String
        var demultiplexer = LogDemultiplexer()

        /// The frames of the next piece that completes any; never empty.
        public mutating func next() async throws -> [LogFrame]? {
            var frames: [LogFrame] = []
            while frames.isEmpty {
                guard let chunk = try await nextRead() else { return nil }
                if tty {
                    if chunk.readableBytes > 0 { frames.append(LogFrame(stream: .tty, payload: chunk)) }
                } else {
                    demultiplexer.feed(chunk, into: &frames)
                }
            }
            return frames
        }

        /// A broken connection becomes ``EngineError/unreachable(address:reason:)``.
        private mutating func nextRead() async throws -> ByteBuffer? {
            do {
                return try await body.next()
            } catch let error as CancellationError {
                throw error
            } catch let error as EngineError {
                throw error
            } catch {
                throw EngineError.unreachable(address: address, reason: EngineTransport.reason(for: error))
            }
        }
    }

    /// Reads everything (for short, finished output) and returns it with stdout and stderr apart.
    public func collect() async throws -> CollectedLogs {
        var logs = CollectedLogs()
        for try await frame in self {
            switch frame.stream {
            case .stderr: logs.stderr += frame.payload.readableBytesView
            default: logs.stdout += frame.payload.readableBytesView
            }
        }
        return logs
    }
}

/// A container's whole output, stdout (and TTY output) apart from stderr.
public struct CollectedLogs: Sendable, Equatable {
    public var stdout: [UInt8] = []
    public var stderr: [UInt8] = []

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}
