import EngineAPI
import Foundation
import Testing
import TestSupport

/// Version negotiation against the real engine.
@Suite struct NegotiationTests {
    @Test func agreesOnTheDaemonsVersionWhenItIsNotNewerThanOurs() async throws {
        try await TestEngine.withClient { client in
            let ping = try await client.ping()
            let daemon = try #require(ping.apiVersion, "the engine sends an API-Version header")
            let agreed = try await client.apiVersion()
            #expect(agreed == min(daemon, APIVersion.current))
            // /version reports the same API version the ping header does.
            let version = try await client.version()
            #expect(version.apiVersion == daemon.description)
        }
    }

    @Test func requestsCarryTheNegotiatedVersion() async throws {
        let (logger, captured) = CapturingLogHandler.logger()
        let agreed = try await TestEngine.withClient(logger: logger) { client in
            _ = try await client.listContainers(all: true)
            return try await client.apiVersion()
        }
        let uris = captured.values(of: "uri")
        #expect(uris.contains("/_ping"), "negotiation pings first: \(uris)")
        #expect(uris.contains { $0.hasPrefix("/v\(agreed)/containers/json") }, "\(uris)")
    }

    @Test func aForcedVersionIsUsedAsIsAndStillWorks() async throws {
        let environment = ["DOCKER_HOST": try TestEngine.address().description, "DOCKER_API_VERSION": "1.24"]
        let (logger, captured) = CapturingLogHandler.logger()
        let client = try EngineClient.fromEnvironment(environment, logger: logger)
        do {
            #expect(try await client.apiVersion() == APIVersion(major: 1, minor: 24))
            let containers = try await client.listContainers(all: true)
            let info = try await client.info()
            // Both answers decode at 1.24. Their counts need not agree: other suites add and remove containers between
            // the two requests (a "fewer in the info than in the list" failed a full run once).
            #expect(containers.allSatisfy { !$0.id.isEmpty })
            #expect((info.containers ?? 0) >= 0)
            let uris = captured.values(of: "uri")
            #expect(!uris.contains("/_ping"), "a forced version needs no negotiation: \(uris)")
            #expect(uris.contains { $0.hasPrefix("/v1.24/containers/json") }, "\(uris)")
            #expect(uris.contains("/v1.24/info"), "\(uris)")
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test func aVersionBelowTheMinimumIsRefused() async throws {
        try await TestEngine.withClient(apiVersion: APIVersion(major: 1, minor: 23)) { client in
            await #expect {
                _ = try await client.listContainers()
            } throws: { error in
                guard case .unsupportedAPIVersion(let message) = error as? EngineError else { return false }
                return message.contains("1.23") && message.contains("1.24")
            }
        }
        let environment = ["DOCKER_HOST": try TestEngine.address().description, "DOCKER_API_VERSION": "1.12"]
        #expect(throws: EngineError.self) { try EngineClient.fromEnvironment(environment) }
    }
}

/// An engine that is not there.
@Suite struct UnreachableEngineTests {
    @Test func aMissingSocketIsUnreachableNamingTheAddressAtOnce() async throws {
        let started = ContinuousClock.now
        try await TestEngine.withClient(address: .unix(path: "/tmp/berth-no-such-engine.sock")) { client in
            await #expect {
                _ = try await client.listContainers()
            } throws: { error in
                guard case .unreachable(let address, let reason) = error as? EngineError else { return false }
                return address == "unix:///tmp/berth-no-such-engine.sock" && reason == "no socket at that path"
                    && "\(error)".hasPrefix("engine unreachable at unix:///tmp/berth-no-such-engine.sock")
            }
        }
        // Not retried until the connect timeout (5 s): a page with the engine down must not hang.
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test func aClosedTCPPortIsUnreachable() async throws {
        try await TestEngine.withClient(address: .tcp(host: "127.0.0.1", port: 1)) { client in
            await #expect {
                _ = try await client.ping()
            } throws: { error in
                guard case .unreachable(_, let reason) = error as? EngineError else { return false }
                return reason == "connection refused"
            }
        }
    }

    @Test func aFailedNegotiationIsNotRemembered() async throws {
        guard case .unix(let realPath) = try TestEngine.address() else {
            Issue.record("the test engine listens on a Unix socket")
            return
        }
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("later.sock").path
        try await TestEngine.withClient(address: .unix(path: path)) { client in
            // Nothing there yet: negotiation fails.
            await #expect(throws: EngineError.self) { _ = try await client.apiVersion() }
            // The engine "comes up" at that path: the same client now negotiates.
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: realPath)
            let version = try await client.apiVersion()
            #expect(version >= APIVersion.minimum)
        }
    }
}
