import NIOCore
import PAMAuth
import Testing
import TestSupport

/// Real PAM against real users (created by scripts/test-users).
@Suite struct PAMAuthenticatorTests {
    static let failureDelay = TimeAmount.milliseconds(300)

    func withAuthenticator<Value: Sendable>(
        service: String = TestUsers.service, maxPending: Int = 10, timeout: TimeAmount = .seconds(30),
        _ body: (PAMAuthenticator) async throws -> Value
    ) async throws -> Value {
        let authenticator = PAMAuthenticator(
            configuration: .init(service: service, maxPendingLogins: maxPending, timeout: timeout, failureDelay: Self.failureDelay)
        )
        do {
            let value = try await body(authenticator)
            try await authenticator.shutdown()
            return value
        } catch {
            try? await authenticator.shutdown()
            throw error
        }
    }

    @Test func theRightPasswordSignsIn() async throws {
        let password = try TestUsers.password()
        try await withAuthenticator { (pam: PAMAuthenticator) async throws in
            #expect(try await pam.authenticate(username: "bt-admin", password: password, clientAddress: "192.0.2.7") == .success)
            #expect(try await pam.authenticate(username: "bt-nogroup", password: password, clientAddress: nil) == .success)
        }
    }

    @Test func aWrongPasswordAndAnUnknownUserLookTheSame() async throws {
        let password = try TestUsers.password()
        try await withAuthenticator { (pam: PAMAuthenticator) async throws in
            let clock = ContinuousClock()
            var wrongOutcome: PAMOutcome?
            let wrong = try await clock.measure {
                wrongOutcome = try await pam.authenticate(username: "bt-viewer", password: password + "x", clientAddress: nil)
            }
            var unknownOutcome: PAMOutcome?
            let unknown = try await clock.measure {
                unknownOutcome = try await pam.authenticate(username: "bt-no-such-user", password: password, clientAddress: nil)
            }
            #expect(wrongOutcome == .badCredentials)
            #expect(unknownOutcome == .badCredentials)
            // Both wait out the same failure delay, counted from the start of the attempt (so the few milliseconds
            // PAM needs for an unknown user against a real hash check are hidden), and no more than that plus
            // scheduling: pam_unix's own 2 s request was not slept on top.
            #expect(wrong >= .milliseconds(300) && wrong < .milliseconds(1900))
            #expect(unknown >= .milliseconds(300) && unknown < .milliseconds(1900))
        }
    }

    @Test func lockedAndExpiredAccountsAreRefused() async throws {
        let password = try TestUsers.password()
        try await withAuthenticator { (pam: PAMAuthenticator) async throws in
            #expect(try await pam.authenticate(username: "bt-locked", password: password, clientAddress: nil) == .badCredentials)
            #expect(try await pam.authenticate(username: "bt-expired", password: password, clientAddress: nil) == .accountExpired)
            #expect(await pam.accountIsUsable(username: "bt-admin"))
            #expect(!(await pam.accountIsUsable(username: "bt-locked")))
            #expect(!(await pam.accountIsUsable(username: "bt-expired")))
            #expect(!(await pam.accountIsUsable(username: "bt-no-such-user")))
        }
    }

    @Test func anEmptyPasswordIsRefused() async throws {
        try await withAuthenticator { (pam: PAMAuthenticator) async throws in
            #expect(try await pam.authenticate(username: "bt-admin", password: "", clientAddress: nil) == .badCredentials)
        }
    }

    @Test func atMostTheConfiguredNumberOfLoginsArePending() async throws {
        let password = try TestUsers.password()
        try await withAuthenticator(service: TestUsers.slowService) { (pam: PAMAuthenticator) async throws in
            let results = await withTaskGroup(of: Result<PAMOutcome, PAMError>.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        do {
                            return .success(try await pam.authenticate(username: "bt-parallel", password: password, clientAddress: nil))
                        } catch let error as PAMError {
                            return .failure(error)
                        } catch {
                            return .failure(.timedOut)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let refused = results.filter { $0 == .failure(.tooManyLogins) }.count
            let answered = results.filter { $0 == .success(.success) }.count
            #expect(refused == 2)
            #expect(answered == 10)
            #expect(pam.pendingLogins == 0)
        }
    }

    @Test func aHungPAMCallIsAnsweredAtTheTimeout() async throws {
        let password = try TestUsers.password()
        try await withAuthenticator(service: TestUsers.slowService, timeout: .milliseconds(500)) { (pam: PAMAuthenticator) async throws in
            let clock = ContinuousClock()
            var outcome: PAMOutcome?
            let took = try await clock.measure {
                outcome = try await pam.authenticate(username: "bt-admin", password: password, clientAddress: nil)
            }
            #expect(outcome == .systemError)
            // Unanswered, it would take PAM's full 2 s.
            #expect(took < .milliseconds(1900))
        }
    }
}

@Suite struct UnixAccountTests {
    @Test func groupsComeFromTheSystemDatabases() throws {
        let admin = try #require(UnixAccount.lookup("bt-admin"))
        #expect(admin.groups.contains(TestUsers.adminGroup))
        let both = try #require(UnixAccount.lookup("bt-both"))
        #expect(Set(both.groups).isSuperset(of: [TestUsers.viewerGroup, TestUsers.operatorGroup]))
        let none = try #require(UnixAccount.lookup("bt-nogroup"))
        #expect(none.groups.allSatisfy { !$0.hasPrefix("bt-") || $0 == "bt-nogroup" })
        #expect(UnixAccount.lookup("bt-no-such-user") == nil)
    }

    @Test(arguments: ["", "-rf", "a\u{7}b", "line\nbreak", String(repeating: "a", count: 65), "a/b", "a:b", "a b"])
    func unacceptableUsernames(_ name: String) {
        #expect(!UsernamePolicy.isAcceptable(name))
    }

    @Test func acceptableUsernames() {
        #expect(UsernamePolicy.isAcceptable("alice"))
        #expect(UsernamePolicy.isAcceptable("bt-admin"))
        #expect(UsernamePolicy.isAcceptable(String(repeating: "a", count: 64)))
    }
}
