import Foundation
import NIOConcurrencyHelpers

/// Shares one upstream engine stream per topic among all the connections watching it.
///
/// The upstream starts with the first subscriber and is cancelled when the last one leaves, so nothing reads from the
/// engine while nobody watches. Messages are offered to every subscriber's bounded ``Mailbox``: a slow subscriber loses
/// messages (and learns how many), the others never wait for it. An upstream that returns by itself (what it follows
/// is gone) ends its topic: the subscribers' mailboxes are finished, and the next subscriber starts a new upstream.
final class Broadcaster<Message: Sendable>: Sendable {
    /// Runs while the topic has subscribers, passing each message to `publish`; cancelled when the last one leaves.
    /// `opened` is when the first subscriber came: what happened since then is what every subscriber may expect.
    typealias Upstream = @Sendable (_ topic: String, _ opened: Date, _ publish: @escaping @Sendable (Message) -> Void) async -> Void

    private struct Topic {
        var generation: Int
        let opened = Date()
        var subscribers: [ObjectIdentifier: Mailbox<Message>] = [:]
        var task: Task<Void, Never>?
    }

    private struct State {
        var topics: [String: Topic] = [:]
        var nextGeneration = 0
    }

    private let state = NIOLockedValueBox(State())
    private let upstream: Upstream

    init(upstream: @escaping Upstream) {
        self.upstream = upstream
    }

    /// Adds a subscriber; the mailbox gets the topic's messages until ``unsubscribe(_:from:)``.
    func subscribe(_ mailbox: Mailbox<Message>, to topic: String) {
        let start = state.withLockedValue { state -> Int? in
            if state.topics[topic] != nil {
                state.topics[topic]!.subscribers[ObjectIdentifier(mailbox)] = mailbox
                return nil
            }
            state.nextGeneration += 1
            var entry = Topic(generation: state.nextGeneration)
            entry.subscribers[ObjectIdentifier(mailbox)] = mailbox
            state.topics[topic] = entry
            return entry.generation
        }
        guard let generation = start else { return }
        let upstream = self.upstream
        // The task holds the broadcaster only while the topic has subscribers: the last one leaving cancels it.
        let opened = state.withLockedValue { $0.topics[topic]?.opened } ?? Date()
        let task = Task {
            await upstream(topic, opened) { message in self.publish(message, topic: topic, generation: generation) }
            if !Task.isCancelled { self.end(topic, generation: generation) }
        }
        let orphan = state.withLockedValue { state -> Bool in
            guard state.topics[topic]?.generation == generation else { return true }
            state.topics[topic]!.task = task
            return false
        }
        // Everyone left before the task was recorded.
        if orphan { task.cancel() }
    }

    func unsubscribe(_ mailbox: Mailbox<Message>, from topic: String) {
        let task = state.withLockedValue { state -> Task<Void, Never>? in
            guard var entry = state.topics[topic] else { return nil }
            entry.subscribers[ObjectIdentifier(mailbox)] = nil
            if entry.subscribers.isEmpty {
                state.topics[topic] = nil
                return entry.task
            }
            state.topics[topic] = entry
            return nil
        }
        task?.cancel()
    }

    /// The upstream returned by itself: its subscribers get what is queued, then the end of their mailbox.
    private func end(_ topic: String, generation: Int) {
        let subscribers = state.withLockedValue { state -> [Mailbox<Message>] in
            guard let entry = state.topics[topic], entry.generation == generation else { return [] }
            state.topics[topic] = nil
            return Array(entry.subscribers.values)
        }
        for mailbox in subscribers { mailbox.finish() }
    }

    /// Ends every topic now: upstreams cancelled, subscribers' streams closed with `reason` (their engine is gone).
    func closeAll(reason: String) {
        let topics = state.withLockedValue { state -> [Topic] in
            defer { state.topics = [:] }
            return Array(state.topics.values)
        }
        for topic in topics {
            topic.task?.cancel()
            for mailbox in topic.subscribers.values { mailbox.close(reason: reason) }
        }
    }

    /// How many topics have an upstream running now (for metrics and tests).
    var activeTopics: Int { state.withLockedValue { $0.topics.count } }

    func subscriberCount(_ topic: String) -> Int { state.withLockedValue { $0.topics[topic]?.subscribers.count ?? 0 } }

    private func publish(_ message: Message, topic: String, generation: Int) {
        let subscribers = state.withLockedValue { state -> [Mailbox<Message>] in
            guard let entry = state.topics[topic], entry.generation == generation else { return [] }
            return Array(entry.subscribers.values)
        }
        var givenUp: [Mailbox<Message>] = []
        for mailbox in subscribers {
            if !mailbox.offer(message) && mailbox.isOverflowed { givenUp.append(mailbox) }
        }
        for mailbox in givenUp { unsubscribe(mailbox, from: topic) }
    }
}
