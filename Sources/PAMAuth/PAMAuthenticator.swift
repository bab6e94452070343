import CPAM
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Checks Linux passwords through PAM, off the event loop, a bounded number at a time.
///
/// PAM calls block (they read `/etc/shadow`, may ask a directory server) and pam_unix wants a delay after a failure.
/// The calls run on a small thread pool of their own; the failure delay is waited asynchronously afterwards, so a
/// flood of wrong passwords never ties up a thread. Every failure takes the same time from the start of the attempt,
/// so an unknown user can't be told from a wrong password by timing.
public final class PAMAuthenticator: Sendable {
    public struct Configuration: Sendable {
        /// The PAM service: `/etc/pam.d/<service>`.
        public var service: String
        /// Logins waiting for or inside PAM at once; more are refused with ``PAMError/tooManyLogins``.
        public var maxPendingLogins: Int
        /// How long one PAM transaction may take before the login is answered as failed.
        public var timeout: TimeAmount
        /// How long every failed login takes, counted from its start. Nil: what PAM asked for, at least 2 s.
        public var failureDelay: TimeAmount?

        public init(service: String = "berth", maxPendingLogins: Int = 10, timeout: TimeAmount = .seconds(30), failureDelay: TimeAmount? = nil) {
            self.service = service
            self.maxPendingLogins = maxPendingLogins
            self.timeout = timeout
            self.failureDelay = failureDelay
        }
    }

    public let configuration: Configuration
    private let threadPool: NIOThreadPool
    private let pending = NIOLockedValueBox(0)
    private let longestFailDelay = NIOLockedValueBox(TimeAmount.zero)
    private let logger: Logger

    public init(configuration: Configuration = .init(), threads: Int = 2, logger: Logger = Logger(label: "berth.pam")) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
    }

    public func shutdown() async throws {
        try await threadPool.shutdownGracefully()
    }

    /// Logins currently waiting for or inside PAM.
    public var pendingLogins: Int { pending.withLockedValue { $0 } }

    /// Checks `password` for `username` (pam_authenticate, then pam_acct_mgmt).
    ///
    /// - Throws: ``PAMError/tooManyLogins`` when ``Configuration/maxPendingLogins`` are already pending.
    public func authenticate(username: String, password: String, clientAddress: String?) async throws -> PAMOutcome {
        let started = NIODeadline.now()
        let admitted = pending.withLockedValue { count -> Bool in
            guard count < configuration.maxPendingLogins else { return false }
            count += 1
            return true
        }
        guard admitted else { throw PAMError.tooManyLogins }

        let raw: RawResult
        do {
            raw = try await run(onFinish: { [pending] in pending.withLockedValue { $0 -= 1 } }) { [service = configuration.service] in
                var result = berth_pam_result()
                _ = berth_pam_authenticate(service, username, password, clientAddress, "berth", &result)
                return RawResult(result)
            }
        } catch {
            raw = RawResult(status: -1, stage: BERTH_PAM_STAGE_START, failDelay: .zero, unanswerablePrompt: false, message: "timed out")
        }
        let outcome = PAMOutcome(raw)
        if outcome != .success {
            logger.info(
                "PAM refused a login",
                metadata: [
                    "user": "\(username.prefix(64))", "outcome": "\(outcome)", "pam.status": "\(raw.status)",
                    "pam.message": "\(raw.message)",
                ]
            )
            longestFailDelay.withLockedValue { $0 = max($0, raw.failDelay) }
            await waitOutFailureDelay(since: started)
        }
        return outcome
    }

    /// Waits until a refusal that began at `started` has taken as long as PAM's failure delay (the longest PAM has
    /// asked for so far, at least 2 s, or the configured one). A caller that refuses after PAM said yes (an account in
    /// no group) waits this too, so that no refusal tells a right password apart by its time.
    public func waitOutFailureDelay(since started: NIODeadline) async {
        let delay = configuration.failureDelay ?? max(longestFailDelay.withLockedValue { $0 }, .seconds(2))
        let wait = started + delay - .now()
        if wait > .zero {
            try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds))
        }
    }

    /// Asks pam_acct_mgmt whether the account may still be used (for sessions re-checked while signed in).
    public func accountIsUsable(username: String) async -> Bool {
        do {
            return try await run { [service = configuration.service] in
                var result = berth_pam_result()
                return berth_pam_check_account(service, username, nil, &result) == PAM_SUCCESS
                    && berth_shadow_state(username) == 0
            }
        } catch {
            return false
        }
    }

    /// Runs `work` on the PAM pool, answering `timedOut` after ``Configuration/timeout`` even if PAM is still busy.
    /// `onFinish` runs when PAM really returns, so a hung PAM call keeps its login slot.
    private func run<Value: Sendable>(
        onFinish: @escaping @Sendable () -> Void = {}, _ work: @escaping @Sendable () -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let once = ResumeOnce(continuation)
            let timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: configuration.timeout) {
                once.resume(with: .failure(PAMError.timedOut))
            }
            threadPool.submit { state in
                guard case .active = state else {
                    onFinish()
                    once.resume(with: .failure(PAMError.timedOut))
                    return
                }
                let value = work()
                timer.cancel()
                // Release the slot before answering, so a caller that sees the answer also sees the slot free.
                onFinish()
                once.resume(with: .success(value))
            }
        }
    }
}

/// Why a login could not even be tried.
public enum PAMError: Error, Sendable, Equatable {
    case tooManyLogins
    case timedOut
}

/// What PAM said of a login.
public enum PAMOutcome: Sendable, Equatable {
    case success
    /// Unknown user, wrong password or locked password: deliberately one case.
    case badCredentials
    case accountExpired
    /// The password must be changed first, which the web form can't do.
    case passwordExpired
    /// A module denied access (pam_access, pam_faillock, …).
    case accessDenied
    /// A module asked something other than the password.
    case unanswerablePrompt
    /// PAM itself failed (misconfigured service, timeout).
    case systemError

    init(_ raw: RawResult) {
        if raw.unanswerablePrompt {
            self = .unanswerablePrompt
            return
        }
        switch raw.status {
        case PAM_SUCCESS: self = .success
        case PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_MAXTRIES, PAM_CRED_INSUFFICIENT, PAM_AUTHINFO_UNAVAIL, PAM_AUTHTOK_ERR:
            self = .badCredentials
        case PAM_ACCT_EXPIRED: self = .accountExpired
        case PAM_NEW_AUTHTOK_REQD, PAM_AUTHTOK_EXPIRED: self = .passwordExpired
        case PAM_PERM_DENIED: self = .accessDenied
        default: self = .systemError
        }
    }
}

/// The C result, copied out of the C struct.
struct RawResult: Sendable {
    var status: Int32
    var stage: berth_pam_stage
    var failDelay: TimeAmount
    var unanswerablePrompt: Bool
    var message: String

    init(status: Int32, stage: berth_pam_stage, failDelay: TimeAmount, unanswerablePrompt: Bool, message: String) {
        self.status = status
        self.stage = stage
        self.failDelay = failDelay
        self.unanswerablePrompt = unanswerablePrompt
        self.message = message
    }

    init(_ result: berth_pam_result) {
        var result = result
        let message = withUnsafeBytes(of: &result.message) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(
            status: result.status, stage: result.stage, failDelay: .microseconds(Int64(result.fail_delay_usec)),
            unanswerablePrompt: result.unanswerable_prompt != 0, message: message
        )
    }
}

/// Resumes a continuation once; later calls (the timer after the result, or the result after the timer) do nothing.
final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation: NIOLockedValueBox<CheckedContinuation<Value, any Error>?>

    init(_ continuation: CheckedContinuation<Value, any Error>) {
        self.continuation = NIOLockedValueBox(continuation)
    }

    func resume(with result: Result<Value, any Error>) {
        let taken = continuation.withLockedValue { value -> CheckedContinuation<Value, any Error>? in
            defer { value = nil }
            return value
        }
        taken?.resume(with: result)
    }
}
