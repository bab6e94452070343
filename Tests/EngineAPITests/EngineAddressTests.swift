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

    @Test func parsesSSHAddresses() throws {
        #expect(try EngineAddress(parsing: "ssh://root@engine.example") == .ssh(user: "root", host: "engine.example", port: 22))
        #expect(try EngineAddress(parsing: "ssh://deploy@127.0.0.1:2222") == .ssh(user: "deploy", host: "127.0.0.1", port: 2222))
        #expect(try EngineAddress(parsing: "ssh://me@[::1]:2200/") == .ssh(user: "me", host: "::1", port: 2200))
        #expect(try EngineAddress(parsing: "ssh://me@[::1]") == .ssh(user: "me", host: "::1", port: 22))
        // The description is an address that parses back to the same value.
        for address in [
            EngineAddress.ssh(user: "root", host: "engine.example", port: 22), .ssh(user: "deploy", host: "127.0.0.1", port: 2222),
            .ssh(user: "me", host: "::1", port: 2200), .ssh(user: "me", host: "::1", port: 22),
        ] {
            #expect(try EngineAddress(parsing: address.description) == address)
        }
        #expect(EngineAddress.ssh(user: "root", host: "engine.example", port: 22).description == "ssh://root@engine.example")
        #expect(EngineAddress.ssh(user: "me", host: "::1", port: 2200).description == "ssh://me@[::1]:2200")
    }

    @Test(arguments: [
        "ssh://host": "the user is missing", "ssh://@host": "the user is missing", "ssh://user:secret@host": "never a password",
        "ssh://user@host/path": "no path", "ssh://user@": "no host name", "ssh://user@host:0": "port", "ssh://user@[::1]x": "after the host",
    ])
    func refusesSSHAddressesWithTheReason(_ text: String, _ reason: String) {
        #expect { try EngineAddress(parsing: text) } throws: { "\($0)".contains(reason) }
    }

    @Test(arguments: ["unix://relative.sock", "ssh://host", "tcp://:2375", "tcp://host:99999", "tcp://host:x", "docker.sock", "https://h:1", ""])
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
