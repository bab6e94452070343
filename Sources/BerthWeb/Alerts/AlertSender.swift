import AsyncHTTPClient
import BerthStore
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Mail
import ServiceLifecycle

/// Sends the queued alert messages: webhooks get the JSON, signed (`X-Berth-Signature: sha256=` HMAC-SHA256 of
/// `timestamp.body` with the channel's secret), ntfy-style topics the text, mail recipients a message. A failed send is tried again after 1, 2,
/// 4, … seconds, and given up after `maxAttempts`; every outcome stays in the channel's delivery log.
final class AlertSender: Service, Sendable {
    let database: AppDatabase
    let key: SecretKey
    let allowLocal: Bool
    let logger: Logger
    let maxAttempts: Int
    /// Certificates trusted beside the system's (`--alerts-ca-file`).
    let trustRoots: [NIOSSLCertificate]
    private let client: HTTPClient
    private let signal = WakeSignal()

    init(
        database: AppDatabase, key: SecretKey, allowLocal: Bool, trustRoots: [NIOSSLCertificate] = [], logger: Logger, maxAttempts: Int = 6
    ) {
        self.database = database
        self.key = key
        self.allowLocal = allowLocal
        self.trustRoots = trustRoots
        self.logger = logger
        self.maxAttempts = maxAttempts
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        if !trustRoots.isEmpty {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(trustRoots)]
            configuration.tlsConfiguration = tls
        }
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    /// The certificates of `--alerts-ca-file`; refuses to start when the file gives none.
    static func trustRoots(_ path: String?) throws(StartupError) -> [NIOSSLCertificate] {
        guard let path else { return [] }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw StartupError("cannot read the alert channels' CA file \(path) (--alerts-ca-file): \(error)")
        }
        guard !certificates.isEmpty else { throw StartupError("no certificate in \(path) (--alerts-ca-file)") }
        return certificates
    }

    /// Something was queued: look now.
    func wake() { signal.fire() }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                while !Task.isCancelled {
                    let recorded = await self.startDue(in: &group)
                    let next = (try? await self.database.nextAlertDeliveryTime()) ?? nil
                    // A database that takes no writes is looked at again in a while, not at once.
                    let wait = recorded ? next.map { max(0.05, min(5, $0.timeIntervalSinceNow)) } ?? 5 : 5
                    await self.signal.wait(upTo: .milliseconds(Int64(wait * 1000)))
                }
            }
        }
        try? await client.shutdown()
    }

    /// Channels whose messages are being sent now.
    private let sending = NIOLockedValueBox<Set<Int64>>([])
    /// Whether an attempt could not be put on record lately (the database takes no writes).
    private let paused = NIOLockedValueBox(false)

    /// Starts sending what is due, channel by channel side by side (a slow mail server holds up only its own
    /// messages), each channel's in order; false when an attempt could not be put on record.
    private func startDue(in group: inout TaskGroup<Void>) async -> Bool {
        guard let due = try? await database.dueAlertDeliveries() else { return false }
        for (channel, deliveries) in Dictionary(grouping: due, by: \.channelId) {
            guard sending.withLockedValue({ $0.insert(channel).inserted }) else { continue }
            group.addTask {
                await self.send(deliveries)
                self.sending.withLockedValue { _ = $0.remove(channel) }
                self.signal.fire()
            }
        }
        return !paused.withLockedValue { paused in defer { paused = false }; return paused }
    }

    /// Sends one channel's due messages in order; stops when an attempt cannot be put on record.
    private func send(_ due: [AlertDelivery]) async {
        for var delivery in due {
            delivery.attempts += 1
            // On record before it goes: a database that takes no writes stops the sending instead of repeating it.
            delivery.nextAttemptAt = Date().addingTimeInterval(pow(2, Double(delivery.attempts - 1)))
            do {
                try await database.updateAlertDelivery(delivery)
            } catch {
                logger.error("alerts: cannot record a delivery attempt; not sending", metadata: ["error": "\(error)"])
                paused.withLockedValue { $0 = true }
                return
            }
            do {
                try await send(delivery)
                delivery.state = .sent
                delivery.sentAt = Date()
                delivery.nextAttemptAt = nil
                delivery.lastError = nil
            } catch {
                delivery.lastError = String("\(error)".prefix(500))
                if delivery.attempts >= maxAttempts || (error as? Failure)?.permanent == true {
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
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// Not worth another try (a mail server's 5xx refusal): given up at once.
        var permanent = false
    }

    private func send(_ delivery: AlertDelivery) async throws {
        guard let channel = try await database.alertChannel(id: delivery.channelId) else { throw Failure(description: "the channel was removed") }
        // Checked again before each send: a name may resolve elsewhere by now.
        let target: ChannelTarget
        do {
            target = try await ChannelTarget.check(kind: channel.kind, address: channel.url, allowLocal: allowLocal)
        } catch {
            throw Failure(description: error.message)
        }
        switch target {
        case .http(let url): try await post(delivery, to: channel, at: url)
        case .mail(let address, let addresses): try await mail(delivery, to: channel, at: address, addresses: addresses)
        }
    }

    /// The channel's sealed secret (a webhook's signing key, a mail server's password), opened.
    private func secret(of channel: AlertChannel) throws -> Data? {
        guard let sealed = channel.secret, let keyId = channel.keyId else { return nil }
        do {
            return try key.open(sealed, keyId: keyId, context: channel.sealContext)
        } catch {
            throw Failure(description: "the channel's secret does not open with this Berth's key file: save the channel again")
        }
    }

    private func post(_ delivery: AlertDelivery, to channel: AlertChannel, at url: URL) async throws {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "User-Agent", value: "Berth")
        if channel.kind == .webhook {
            let body = delivery.message
            let timestamp = String(Int(Date().timeIntervalSince1970))
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Berth-Delivery", value: String(delivery.id ?? 0))
            request.headers.add(name: "X-Berth-Timestamp", value: timestamp)
            if let secret = try secret(of: channel) {
                let mac = HMAC<SHA256>.authenticationCode(for: Data((timestamp + "." + body).utf8), using: SymmetricKey(data: secret))
                request.headers.add(name: "X-Berth-Signature", value: "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
            }
            request.body = .bytes(ByteBuffer(string: body))
        } else {
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

    private func mail(_ delivery: AlertDelivery, to channel: AlertChannel, at address: MailChannelAddress, addresses resolved: [String]) async throws {
        let password = try secret(of: channel).map { String(decoding: $0, as: UTF8.self) }
        let message = (try? JSONDecoder().decode(AlertMessage.self, from: Data(delivery.message.utf8)))
        let mail = MailMessage(
            from: address.from, to: address.to, subject: message?.subject ?? "Berth alert", body: message?.mailBody ?? delivery.message
        )
        var lastError: MailError?
        // The checked addresses themselves, not the name again (which could resolve elsewhere by now).
        for ip in resolved.prefix(3) {
            guard let socket = try? SocketAddress(ipAddress: ip, port: address.port) else { continue }
            let server = MailServer(
                host: address.host, address: socket, security: address.security, username: address.username, password: password,
                additionalTrustRoots: trustRoots
            )
            do {
                try await SMTPClient.send(mail, via: server)
                return
            } catch {
                lastError = error
                // Only a connection that never opened is worth another address; a refusal is the server's word.
                guard error.notConnected else { break }
            }
        }
        throw Failure(description: lastError?.description ?? "\(address.host) has no usable address", permanent: lastError?.permanent ?? false)
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
