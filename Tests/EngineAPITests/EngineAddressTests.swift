import EngineAPI
import Testing

@Suite struct EngineAddressTests {
    @Test func parsesUnixSocketURLsAndBarePaths() throws {
        #expect(try EngineAddress(parsing: "unix:///var/run/docker.sock") == .unix(path: "/var/run/docker.sock"))
        #expect(try EngineAddress(parsing: "/tmp/d.sock") == .unix(path: "/tmp/d.sock"))
        #expect(EngineAddress.systemDefault.description == "unix:///var/run/docker.sock")
    }

    @Test func parsesTCPAddresses() throws {
        #expect(try EngineAddress(parsing: "tcp://127.0.0.1:2375") == .tcp(host: "127.0.0.1", port: 2375))
        #expect(try EngineAddress(parsing: "tcp://docker.example:1234/") == .tcp(host: "docker.example", port: 1234))
        #expect(try EngineAddress(parsing: "tcp://[::1]:2376") == .tcp(host: "::1", port: 2376))
        #expect(try EngineAddress(parsing: "tcp://engine") == .tcp(host: "engine", port: 2375))
        #expect(EngineAddress.tcp(host: "::1", port: 2376).description == "tcp://[::1]:2376")
    }

    @Test(arguments: ["unix://relative.sock", "ssh://user@host", "tcp://:2375", "tcp://host:99999", "tcp://host:x", "docker.sock", ""])
    func refusesAddressesItCannotUse(_ text: String) {
        #expect(throws: EngineAddressError.self) { try EngineAddress(parsing: text) }
    }
}

@Suite struct APIVersionTests {
    @Test func comparesNumerically() throws {
        let v19 = try #require(APIVersion("1.9"))
        let v124 = try #require(APIVersion("1.24"))
        #expect(v19 < v124)
        #expect(APIVersion("v1.41") == APIVersion(major: 1, minor: 41))
        #expect(APIVersion("1") == nil)
        #expect(APIVersion("1.x") == nil)
        #expect(APIVersion("1.41.0") == nil)
    }

    @Test func aForcedVersionBelowTheMinimumIsRefused() throws {
        #expect(throws: EngineError.self) { try APIVersion.forced("1.23") }
        #expect(throws: EngineError.self) { try APIVersion.forced("latest") }
        #expect(try APIVersion.forced("1.24") == APIVersion.minimum)
    }
}
