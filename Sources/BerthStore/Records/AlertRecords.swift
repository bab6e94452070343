import Foundation
import GRDB

/// Where alerts go: a webhook (signed JSON), an ntfy-style topic (a plain text POST), or e-mail (SMTP). A webhook's
/// signing secret and a mail server's password are sealed with the secret key like any stored secret.
public struct AlertChannel: Codable, Sendable, Equatable, Identifiable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case webhook, ntfy, email
    }

    public var id: Int64?
    public var name: String
    public var kind: Kind
    public var url: String
    /// The webhook's HMAC secret or the mail server's password, sealed; nil for kinds without one.
    public var secret: Data?
    public var keyId: String?
    public var createdBy: String
    public var createdAt: Date

    public init(name: String, kind: Kind, url: String, secret: Data?, keyId: String?, createdBy: String, createdAt: Date = Date()) {
        self.name = name
        self.kind = kind
        self.url = url
        self.secret = secret
        self.keyId = keyId
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    /// What the sealed secret is bound to.
    public var sealContext: String { "alertChannel\u{0}\(name)\u{0}\(url)" }
}

/// When to alert: which container events, for which containers, to which channels.
public struct AlertRule: Codable, Sendable, Equatable, Identifiable {
    public enum Event: String, Codable, Sendable, CaseIterable {
        /// Exited with a code other than 0.
        case died
        /// Killed for running out of memory.
        case oom
        /// Its health check turned unhealthy.
        case unhealthy
        /// Restarted more than `restartCount` times within `restartMinutes`.
        case restarting
        /// An update check found a newer image for the tag it was started with.
        case update
    }

    public var id: Int64?
    public var name: String
    /// Comma-separated `Event` names.
    public var events: String
    /// Containers whose name matches this pattern (a `LinearRegex`), all when empty.
    public var namePattern: String
    /// A label the containers carry (`key` or `key=value`), any when empty.
    public var label: String
    /// Comma-separated channel ids.
    public var channels: String
    public var createdBy: String
    public var createdAt: Date
    /// For `restarting`: more than this many restarts …
    public var restartCount: Int
    /// … within this many minutes.
    public var restartMinutes: Int

    public init(
        name: String, events: [Event], namePattern: String, label: String, channels: [Int64], createdBy: String, createdAt: Date = Date(),
        restartCount: Int = 3, restartMinutes: Int = 10
    ) {
        self.restartCount = restartCount
        self.restartMinutes = restartMinutes
        self.name = name
        self.events = events.map(\.rawValue).joined(separator: ",")
        self.namePattern = namePattern
        self.label = label
        self.channels = channels.map(String.init).joined(separator: ",")
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    public var eventSet: Set<Event> { Set(events.split(separator: ",").compactMap { Event(rawValue: String($0)) }) }
    public var channelIds: [Int64] { channels.split(separator: ",").compactMap { Int64($0) } }
}

/// One message to one channel: written with the events it tells of (so none is lost to a restart), then sent, retried
/// with a growing wait, and kept as the channel's delivery log.
public struct AlertDelivery: Codable, Sendable, Equatable, Identifiable {
    public enum State: String, Codable, Sendable {
        case pending, sent
        /// Given up after the last attempt.
        case failed
    }

    public var id: Int64?
    public var channelId: Int64
    /// Nil for a test message.
    public var ruleId: Int64?
    public var createdAt: Date
    /// The message as JSON (`AlertMessage`).
    public var message: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastError: String?
    public var sentAt: Date?

    public init(channelId: Int64, ruleId: Int64?, message: String, createdAt: Date = Date()) {
        self.channelId = channelId
        self.ruleId = ruleId
        self.message = message
        self.createdAt = createdAt
        state = .pending
        attempts = 0
        nextAttemptAt = createdAt
    }
}

extension AlertChannel: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "alertChannel"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension AlertRule: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "alertRule"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension AlertDelivery: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "alertDelivery"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension AppDatabase {
    public func alertChannels() async throws -> [AlertChannel] {
        try await writer.read { db in try AlertChannel.order(Column("name")).fetchAll(db) }
    }

    public func alertChannel(id: Int64) async throws -> AlertChannel? {
        try await writer.read { db in try AlertChannel.fetchOne(db, key: id) }
    }

    public func saveAlertChannel(_ channel: AlertChannel) async throws -> AlertChannel {
        try await writer.write { db in
            var channel = channel
            try channel.save(db)
            return channel
        }
    }

    /// Removes a channel, its deliveries, and its id from every rule.
    public func deleteAlertChannel(id: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM alertDelivery WHERE channelId = ?", arguments: [id])
            _ = try AlertChannel.deleteOne(db, key: id)
            for var rule in try AlertRule.fetchAll(db) where rule.channelIds.contains(id) {
                rule.channels = rule.channelIds.filter { $0 != id }.map(String.init).joined(separator: ",")
                try rule.update(db)
            }
        }
    }

    public func alertRules() async throws -> [AlertRule] {
        try await writer.read { db in try AlertRule.order(Column("name")).fetchAll(db) }
    }

    public func saveAlertRule(_ rule: AlertRule) async throws -> AlertRule {
        try await writer.write { db in
            var rule = rule
            try rule.save(db)
            return rule
        }
    }

    public func deleteAlertRule(id: Int64) async throws {
        _ = try await writer.write { db in try AlertRule.deleteOne(db, key: id) }
    }

    /// How many deliveries a channel's log keeps: older ones that are no longer pending go when new ones come.
    public static let keptAlertDeliveries = 1000

    /// Queues messages and moves the event cursor in one transaction: after a crash either both are there (the
    /// messages go out once) or neither (the events are read again).
    /// Queues messages, moves the cursor and each flushed rule's mark (`ruleId: engine nanoseconds`) at once.
    public func queueAlertDeliveries(_ deliveries: [AlertDelivery], cursor: String?, marks: [Int64: Int64] = [:]) async throws {
        try await writer.write { db in
            for (ruleId, through) in marks {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO alertRuleMark (ruleId, through) SELECT id, ? FROM alertRule WHERE id = ?",
                    arguments: [through, ruleId]
                )
            }
            for delivery in deliveries {
                var delivery = delivery
                try delivery.insert(db)
            }
            for channel in Set(deliveries.map(\.channelId)) {
                try db.execute(
                    sql: """
                        DELETE FROM alertDelivery WHERE channelId = ? AND state != 'pending'
                        AND id <= (SELECT id FROM alertDelivery WHERE channelId = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                        """,
                    arguments: [channel, channel, Self.keptAlertDeliveries]
                )
            }
            if let cursor {
                try db.execute(sql: "INSERT OR REPLACE INTO alertCursor (id, since) VALUES (1, ?)", arguments: [cursor])
            }
        }
    }

    /// How far each rule has queued messages (engine nanoseconds), by rule id.
    public func alertRuleMarks() async throws -> [Int64: Int64] {
        try await writer.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT ruleId, through FROM alertRuleMark").map { ($0["ruleId"], $0["through"]) }) { a, _ in a }
        }
    }

    /// Where the alert watcher left the engine's events (an engine timestamp), nil before it ever ran.
    public func alertCursor() async throws -> String? {
        try await writer.read { db in try String.fetchOne(db, sql: "SELECT since FROM alertCursor WHERE id = 1") }
    }

    public func setAlertCursor(_ cursor: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO alertCursor (id, since) VALUES (1, ?)", arguments: [cursor])
        }
    }

    /// Deliveries due now, oldest first.
    public func dueAlertDeliveries(now: Date = Date(), limit: Int = 50) async throws -> [AlertDelivery] {
        try await writer.read { db in
            try AlertDelivery.filter(Column("state") == AlertDelivery.State.pending.rawValue && Column("nextAttemptAt") <= now)
                .order(Column("nextAttemptAt"), Column("id")).limit(limit).fetchAll(db)
        }
    }

    /// When the next pending delivery is due, if any.
    public func nextAlertDeliveryTime() async throws -> Date? {
        try await writer.read { db in
            try Date.fetchOne(db, sql: "SELECT MIN(nextAttemptAt) FROM alertDelivery WHERE state = 'pending'")
        }
    }

    public func updateAlertDelivery(_ delivery: AlertDelivery) async throws {
        try await writer.write { db in try delivery.update(db) }
    }

    /// A channel's delivery log, newest first.
    public func alertDeliveries(channelId: Int64, limit: Int = 100) async throws -> [AlertDelivery] {
        try await writer.read { db in
            try AlertDelivery.filter(Column("channelId") == channelId).order(Column("id").desc).limit(limit).fetchAll(db)
        }
    }
}
