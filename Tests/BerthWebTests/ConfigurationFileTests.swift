import BerthStore
import BerthWeb
import Foundation
import Testing
import TestSupport

/// `berth.toml`, its precedence under the environment and the flags, and `berth check-config`, run as an operator
/// would: the built binary.
@Suite struct ConfigurationFileTests {
    /// Runs the binary with only `environment` (and PATH): no BERTH_* or DOCKER_HOST of the test's own leaks in.
    func berth(_ arguments: [String], environment: [String: String] = [:]) throws -> BerthCommandLine.Run {
        try BerthCommandLine.run(arguments, environment: environment.merging(["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]) { mine, _ in mine })
    }

    func write(_ text: String, in directory: URL, named name: String = "berth.toml") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A file with settings that all check out on the test machine.
    func goodFile(_ directory: URL) throws -> String {
        try write("""
            # Berth under test
            port = 9123
            database = "\(directory.appendingPathComponent("db/berth.sqlite").path)"
            engine = "\(try TestEngine.address())"
            templates = "\(Repository.templates)"
            public = "\(Repository.publicFolder)"
            pam-service = "\(TestUsers.service)"
            admin-group = "\(TestUsers.adminGroup)"
            operator-group = "\(TestUsers.operatorGroup)"
            viewer-group = "\(TestUsers.viewerGroup)"
            console-group = "\(TestUsers.consoleGroup)"
            log-level = "notice"
            secure-cookies = true
            audit-retention = 400
            """, in: directory)
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try goodFile(directory)

        let fromFile = try berth(["check-config", "--config", file])
        #expect(fromFile.status == 0, "\(fromFile.output)\(fromFile.errors)")
        #expect(fromFile.output.contains("# configuration file: \(file)"))
        #expect(fromFile.output.contains("\nport = 9123\n"))
        #expect(fromFile.output.contains("\nlog-level = \"notice\"\n"))
        #expect(fromFile.output.contains("\nsecure-cookies = true\n"))
        #expect(fromFile.output.contains("\naudit-retention = 400\n"))
        #expect(fromFile.output.contains("\nhost = \"127.0.0.1\"\n"), "a default where the file says nothing")

        // BERTH_CONFIG names the file as well; the environment wins over it, a flag over both.
        let environment = ["BERTH_CONFIG": file, "BERTH_PORT": "9200", "BERTH_SECURE_COOKIES": "0", "BERTH_LOG_LEVEL": "debug"]
        let fromEnvironment = try berth(["check-config"], environment: environment)
        #expect(fromEnvironment.output.contains("\nport = 9200\n"))
        #expect(fromEnvironment.output.contains("\nsecure-cookies = false\n"))
        #expect(fromEnvironment.output.contains("\nlog-level = \"debug\"\n"))
        #expect(fromEnvironment.output.contains("\naudit-retention = 400\n"))
        let fromFlags = try berth(["check-config", "--port", "9300", "--log-level", "warning"], environment: environment)
        #expect(fromFlags.output.contains("\nport = 9300\n"))
        #expect(fromFlags.output.contains("\nlog-level = \"warning\"\n"))
    }

    /// `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` count with `DOCKER_HOST`, as for the docker CLI, and only then.
    @Test func dockerTLSVariablesGoWithDockerHost() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = ["DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": directory.path + "/certs"]
        let fromDockerHost = try berth(["check-config"], environment: tls.merging(["DOCKER_HOST": "tcp://127.0.0.1:2376"]) { $1 })
        #expect(fromDockerHost.output.contains("\nengine-tls-dir = \"\(directory.path)/certs\"\n"), "\(fromDockerHost.output)")
        #expect(fromDockerHost.output.contains("\(directory.path)/certs/ca.pem"), "the missing CA is named: \(fromDockerHost.output)")
        // An engine from Berth's own settings takes no TLS folder from the docker variables.
        let own = try berth(["check-config"], environment: tls.merging(["BERTH_ENGINE": "tcp://127.0.0.1:2376"]) { $1 })
        #expect(!own.output.contains("\nengine-tls-dir = "), "\(own.output)")
    }

    @Test func aBadFileIsAnErrorNamingTheKeyAndTheFile() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        let unknown = try write("prot = 8080\n", in: directory, named: "unknown.toml")
        for command in [["check-config"], ["serve"]] {
            let run = try berth(command + ["--config", unknown])
            #expect(run.status != 0)
            #expect((run.output + run.errors).contains("unknown key 'prot' in \(unknown)"), "\(run.output)\(run.errors)")
        }

        let wrongType = try write("port = \"8080\"\n", in: directory, named: "wrong.toml")
        let typed = try berth(["check-config", "--config", wrongType])
        #expect(typed.status != 0)
        #expect(typed.output.contains("'port' in \(wrongType) must be an integer, not a string"), "\(typed.output)")

        let tooSmall = try write("login-lockout = 0\n", in: directory, named: "small.toml")
        #expect(try berth(["check-config", "--config", tooSmall]).output.contains("'login-lockout' in \(tooSmall) must be at least 1"))

        let broken = try write("port = \n", in: directory, named: "broken.toml")
        let parse = try berth(["check-config", "--config", broken])
        #expect(parse.status != 0)
        #expect(parse.output.contains("\(broken), line 1"), "\(parse.output)")

        let missing = directory.appendingPathComponent("none.toml").path
        let named = try berth(["check-config"], environment: ["BERTH_CONFIG": missing])
        #expect(named.status != 0)
        #expect(named.output.contains("no configuration file at \(missing)"))

        // The default file may be missing (only checkable where none is installed).
        if !FileManager.default.fileExists(atPath: "/etc/berth/berth.toml") {
            let fallback = try berth(["check-config", "--templates", Repository.templates])
            #expect(fallback.output.contains("# configuration file: none"))
        }
    }

    @Test func engineTablesNameSeveralEnginesAndLocalStandsForTheFlatKeys() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let engine = try TestEngine.address()
        let good = try goodFile(directory).replacingOccurrences(of: "berth.toml", with: "")
        let base = try String(contentsOfFile: good + "berth.toml", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("engine =") }.joined(separator: "\n")
        let file = try write(base + """

            [[engine]]
            name = "local"
            address = "\(engine)"
            operator-group = "\(TestUsers.operatorGroup)"

            [[engine]]
            name = "prod"
            address = "tcp://127.0.0.1:1"
            operator-group = "bt-prod-ops-missing"
            """, in: directory, named: "engines.toml")
        let run = try berth(["check-config", "--config", file])
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(!run.output.contains("\nengine = "), "local is a table when there are several: \(run.output)")
        #expect(run.output.contains("[[engine]]\nname = \"local\"\naddress = \"\(engine)\"\noperator-group = \"\(TestUsers.operatorGroup)\"\n"))
        #expect(run.output.contains("[[engine]]\nname = \"prod\"\naddress = \"tcp://127.0.0.1:1\"\n"))
        #expect(run.output.contains("ok: engine: \(engine) answers"))
        #expect(run.output.contains("warning: engine prod: "))
        #expect(run.output.contains("warning: engine prod: no group bt-prod-ops-missing"))
        // The printed configuration reads back as the same.
        func configurationPart(_ output: String) -> String {
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            let end = lines.firstIndex { $0.hasPrefix("ok: ") || $0.hasPrefix("warning: ") || $0.hasPrefix("error: ") } ?? lines.endIndex
            return lines[1..<end].joined(separator: "\n")
        }
        let printed = try write(configurationPart(run.output), in: directory, named: "printed.toml")
        let again = try berth(["check-config", "--config", printed])
        #expect(configurationPart(again.output) == configurationPart(run.output), "\(again.output)")
        #expect(configurationPart(run.output).contains("[[engine]]\nname = \"prod\""))

        for (text, message) in [
            ("[[engine]]\nname = \"Prod\"\naddress = \"tcp://h:1\"", "the engine name 'Prod'"),
            ("[[engine]]\nname = \"prod\"", "the engine 'prod' in \(directory.path)/bad.toml has no address"),
            ("[[engine]]\nname = \"prod\"\naddress = \"ftp://h\"", "the address of the engine 'prod'"),
            ("[[engine]]\nname = \"prod\"\naddress = \"tcp://h:1\"\nsecret = \"x\"", "unknown key 'secret' in [[engine]] number 1"),
            ("[[engine]]\nname = \"a\"\naddress = \"tcp://h:1\"\n[[engine]]\nname = \"a\"\naddress = \"tcp://h:2\"", "two [[engine]] tables"),
            ("[[engine]]\nname = \"prod\"\naddress = \"unix:///x\"\ntls-dir = \"/nonexistent\"", "tls-dir of the engine 'prod' is for an engine on tcp://"),
            ("[[engine]]\nname = \"local\"\n[[engine]]\nname = \"local\"", "two [[engine]] tables"),
            ("[[engine]]\nname = \"prod\"\naddress = \"tcp://h:1\"\nviewer-group = \"\"", "'viewer-group' in [[engine]] number 1"),
            ("engine-tls-dir = \"/x\"\n[[engine]]\nname = \"local\"\ntls-dir = \"/y\"", "is set by the [[engine]] named local too"),
            ("[[engine]]\nname = \"prod\"\naddress = \"ssh://u@h\"", "ssh://u@h needs ssh-key of the engine 'prod'"),
            ("[[engine]]\nname = \"prod\"\naddress = \"tcp://h:1\"\nssh-key = \"/k\"", "ssh-key of the engine 'prod' is for an engine at ssh://"),
        ] {
            let bad = try berth(["serve", "--config", try write(text, in: directory, named: "bad.toml"), "--database", directory.appendingPathComponent("x.sqlite").path])
            #expect(bad.status != 0)
            #expect((bad.output + bad.errors).contains(message), "\(text): \(bad.output)\(bad.errors)")
        }
    }

    @Test func theAuditCommandsFindTheDatabaseInTheFile() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("berth.sqlite").path
        _ = try AppDatabase.open(path: database)
        let file = try write("database = \"\(database)\"\n", in: directory)
        let verified = try berth(["audit", "verify", "--config", file])
        #expect(verified.status == 0, "\(verified.output)\(verified.errors)")
        #expect(verified.output.contains("audit chain intact"))
        // The file is what named it: one naming a missing database says that path.
        let elsewhere = try write("database = \"\(directory.path)/none.sqlite\"\n", in: directory, named: "other.toml")
        let missing = try berth(["audit", "verify"], environment: ["BERTH_CONFIG": elsewhere])
        #expect(missing.status != 0)
        #expect(missing.errors.contains("no database at \(directory.path)/none.sqlite"))
        // --database wins, and a broken file is not read then.
        let broken = try write("nonsense = 1\n", in: directory, named: "broken.toml")
        #expect(try berth(["audit", "verify", "--config", broken, "--database", database]).status == 0)
    }

    @Test func checkConfigPassesAGoodSetupAndNamesEachProblem() async throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = try berth(["check-config", "--config", try goodFile(directory)])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("ok: templates: the "))
        #expect(good.output.contains("ok: database: \(directory.appendingPathComponent("db/berth.sqlite").path) will be created"))
        #expect(good.output.contains("ok: engine: \(try TestEngine.address()) answers"))
        #expect(good.output.contains("ok: groups: viewer group \(TestUsers.viewerGroup) exists"))
        #expect(good.output.contains("ok: groups: console group \(TestUsers.consoleGroup) exists"))
        #expect(good.output.contains("0 errors, 0 warnings"))

        let emptyFolder = directory.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: emptyFolder, withIntermediateDirectories: true)
        let readOnlyParent = directory.appendingPathComponent("ro").path
        try FileManager.default.createDirectory(atPath: readOnlyParent, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: readOnlyParent)
        let bad = try berth([
            "check-config", "--config", "/dev/null", "--templates", emptyFolder, "--public", directory.appendingPathComponent("nope").path,
            "--database", readOnlyParent + "/sub/berth.sqlite", "--tls-cert", directory.appendingPathComponent("cert.pem").path,
            "--tls-key", directory.appendingPathComponent("key.pem").path, "--admin-group", TestUsers.adminGroup,
            "--operator-group", TestUsers.operatorGroup, "--viewer-group", "bt-no-such-group",
            "--pam-service", "bt-no-such-service", "--engine", "unix://" + directory.appendingPathComponent("no.sock").path,
        ])
        #expect(bad.status == 1)
        #expect(bad.output.contains("error: templates in '\(emptyFolder)': missing"))
        #expect(bad.output.contains("error: public: "))
        #expect(bad.output.contains("error: tls: cannot read the TLS certificate"))
        #expect(bad.output.contains("error: groups: the viewer group bt-no-such-group does not exist"))
        #expect(bad.output.contains("error: pam: no /etc/pam.d/bt-no-such-service"))
        #expect(bad.output.contains("warning: engine: "), "an engine that is down is a warning")
        // Root may write anywhere: the read-only folder counts only for other accounts.
        if getuid() != 0 { #expect(bad.output.contains("error: database: cannot create")) }
        #expect(bad.output.contains("6 errors") || bad.output.contains("5 errors"), "\(bad.output)")
    }

    /// The settings are declared once (`ServeSetting.all`); README's table and the example file say the same keys,
    /// and `--help` lists them all.
    @Test func readmeTheExampleFileAndHelpNameExactlyTheDeclaredSettings() throws {
        let declared = Set(ServeSetting.all.map(\.key))
        #expect(declared.count == ServeSetting.all.count, "a key declared twice")
        let readme = try String(contentsOf: Repository.root.appendingPathComponent("README.md"), encoding: .utf8)
        let documented = readme.split(separator: "\n").compactMap { line -> String? in
            guard let match = line.firstMatch(of: /^\| `--([a-z-]+)` \| `([A-Z_]+)/) else { return nil }
            #expect(match.2 == "BERTH_" + match.1.uppercased().replacingOccurrences(of: "-", with: "_"), "\(line)")
            return String(match.1)
        }
        #expect(Set(documented).subtracting(["config"]) == declared, "README's options table")
        let example = try String(contentsOf: Repository.root.appendingPathComponent("deploy/berth.toml"), encoding: .utf8)
        let keys = example.split(separator: "\n").compactMap { line -> String? in
            line.firstMatch(of: #/^#? ?([a-z][a-z-]*) = /#).map { String($0.1) }
        }
        #expect(Set(keys) == declared, "deploy/berth.toml")
        let help = try berth(["serve", "--help"])
        for key in declared { #expect(help.output.contains("--\(key)"), "--help lacks --\(key)") }
    }
}
