import AsyncHTTPClient
import BerthStore
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Sends the queued alert messages: webhooks get the JSON, signed (`X-Berth-Signature: sha256=` HMAC-SHA256 of
/// `timestamp.body` with the channel's secret), ntfy-style topics the text. A failed send is tried again after 1, 2,
/// 4, … seconds, and given up after `maxAttempts`; every outcome stays in the channel's delivery log.
final class AlertSender: Service, Sendable {
    let database: AppDatabase
    let key: SecretKey
    let allowLocal: Bool
    let logger: Logger
    let maxAttempts: Int
    private let client: HTTPClient
    private let signal = WakeSignal()

    init(database: AppDatabase, key: SecretKey, allowLocal: Bool, logger: Logger, maxAttempts: Int = 6) {
        self.database = database
        self.key = key
        self.allowLocal = allowLocal
        self.logger = logger
        self.maxAttempts = maxAttempts
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    /// Something was queued: look now.
    func wake() { signal.fire() }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let recorded = await self.sendDue()
                let next = (try? await self.database.nextAlertDeliveryTime()) ?? nil
                // A database that takes no writes is looked at again in a while, not at once.
                let wait = recorded ? next.map { max(0.05, min(5, $0.timeIntervalSinceNow)) } ?? 5 : 5
                await self.signal.wait(upTo: .milliseconds(Int64(wait * 1000)))
            }
        }
        try? await client.shutdown()
    }

    /// Sends what is due; false when an attempt could not be put on record (nothing was sent then).
    private func sendDue() async -> Bool {
        guard let due = try? await database.dueAlertDeliveries() else { return false }
        for var delivery in due {
            delivery.attempts += 1
            // On record before it goes: a database that takes no writes stops the sending instead of repeating it.
            delivery.nextAttemptAt = Date().addingTimeInterval(pow(2, Double(delivery.attempts - 1)))
            do {
                try await database.updateAlertDelivery(delivery)
            } catch {
                logger.error("alerts: cannot record a delivery attempt; not sending", metadata: ["error": "\(error)"])
                return false
            }
            do {
                try await send(delivery)
                delivery.state = .sent
                delivery.sentAt = Date()
                delivery.nextAttemptAt = nil
                delivery.lastError = nil
            } catch {
                delivery.lastError = String("\(error)".prefix(500))
                if delivery.attempts >= maxAttempts {
                    delivery.state = .failed
                    delivery.nextAttemptAt = nil
                } else {
                    delivery.nextAttemptAt = Date().addingTimeInterval(pow(2, Double(delivery.attempts - 1)))
                }
            }
            do {
                try await database.updateAlertDelivery(delivery)
            } catch {
                logger.error("alerts: cannot record a delivery", metadata: ["delivery": "\(delivery.id ?? 0)", "error": "\(error)"])
            }
        }
        return true
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private func send(_ delivery: AlertDelivery) async throws {
        guard let channel = try await database.alertChannel(id: delivery.channelId) else { throw Failure(description: "the channel was removed") }
        let url: URL
        do {
            url = try OutboundURL.check(channel.url, allowLocal: allowLocal)
        } catch {
            throw Failure(description: error.message)
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "User-Agent", value: "Berth")
        switch channel.kind {
        case .webhook:
            let body = delivery.message
            let timestamp = String(Int(Date().timeIntervalSince1970))
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Berth-Delivery", value: String(delivery.id ?? 0))
            request.headers.add(name: "X-Berth-Timestamp", value: timestamp)
            if let sealed = channel.secret, let keyId = channel.keyId {
                let secret: Data
                do {
                    secret = try key.open(sealed, keyId: keyId, context: channel.sealContext)
                } catch {
                    throw Failure(description: "the channel's signing secret does not open with this Berth's key file: save the channel again")
                }
                let mac = HMAC<SHA256>.authenticationCode(for: Data((timestamp + "." + body).utf8), using: SymmetricKey(data: secret))
                request.headers.add(name: "X-Berth-Signature", value: "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
            }
            request.body = .bytes(ByteBuffer(string: body))
        case .ntfy:
            let message = (try? JSONDecoder().decode(AlertMessage.self, from: Data(delivery.message.utf8)))
            request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            request.headers.add(name: "Title", value: "Berth: \(message?.rule ?? "alert")")
            request.headers.add(name: "Tags", value: "warning")
            request.body = .bytes(ByteBuffer(string: message?.text ?? delivery.message))
        }
        let response = try await client.execute(request, timeout: .seconds(15))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw Failure(description: "\(url.host ?? "the receiver") answered \(response.status.code)")
        }
    }
}

/// Wakes one waiter early; a wait ends by itself after its time.
final class WakeSignal: Sendable {
    private let state = NIOLockedValueBox<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func fire() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            defer { state = (state.waiter == nil, nil) }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait(upTo duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.waitForFire() }
            await group.next()
            group.cancelAll()
            self.cancelWaiter()
        }
    }

    private func waitForFire() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if state.fired || Task.isCancelled {
                        state.fired = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            cancelWaiter()
        }
    }

    private func cancelWaiter() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
