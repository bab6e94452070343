import Logging
import NIOConcurrencyHelpers

/// A log handler that keeps what is logged, so tests can see what a component did (which URIs it requested).
public struct CapturingLogHandler: LogHandler {
    public final class Store: Sendable {
        private let entries = NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>([])

        public init() {}

        func append(_ message: String, _ metadata: Logger.Metadata) {
            entries.withLockedValue { $0.append((message, metadata)) }
        }

        /// The values of one metadata key, in the order they were logged.
        public func values(of key: String) -> [String] {
            entries.withLockedValue { $0.compactMap { $0.metadata[key].map { "\($0)" } } }
        }

        /// Every entry's message and metadata, in the order they were logged.
        public var all: [(message: String, metadata: Logger.Metadata)] { entries.withLockedValue { $0 } }
    }

    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]
    let store: Store

    public init(store: Store) {
        self.store = store
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        store.append("\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 })
    }

    /// A logger at trace level writing into a new store.
    public static func logger() -> (Logger, Store) {
        let store = Store()
        var logger = Logger(label: "berth.test.capture") { _ in CapturingLogHandler(store: store) }
        logger.logLevel = .trace
        return (logger, store)
    }
}
