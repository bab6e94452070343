import Compose
import Foundation
import Testing

@Suite struct ComposeParserTests {
    func parse(_ yaml: String, _ variables: [String: String] = [:], files: [String: String] = [:]) throws(ComposeErrors) -> ComposeProject {
        try ComposeParser(variables: variables, projectDirectory: "/srv/app", readFile: { files[$0] }).parse(yaml)
    }

    func issues(_ yaml: String, _ variables: [String: String] = [:]) -> [ComposeIssue] {
        do {
            _ = try parse(yaml, variables)
            return []
        } catch {
            return error.issues
        }
    }

    static let threeServices = """
        name: shop
        services:
          web:
            image: busybox:${TAG:-latest}
            command: ["httpd", "-f", "-p", "8080"]
            ports: ["127.0.0.1:8080:8080", "9000/udp"]
            environment:
              DB_HOST: db
              GREETING: "hello $$USER"
            depends_on:
              db:
                condition: service_healthy
              migrate:
                condition: service_completed_successfully
            restart: on-failure:3
            deploy:
              replicas: 2
          db:
            image: busybox
            command: sh -c 'touch /ready; sleep 3600'
            volumes: ["data:/var/lib/db", "/cache"]
            healthcheck:
              test: ["CMD", "test", "-f", "/ready"]
              interval: 1s
              timeout: 1m30s
              retries: 3
          migrate:
            image: busybox
            command: echo migrated
            depends_on: [db]
        volumes:
          data:
        """

    @Test func aThreeServiceProjectReadsWithItsDependenciesInOrder() throws {
        let project = try parse(Self.threeServices, ["TAG": "1.36"])
        #expect(project.name == "shop")
        #expect(project.services.map(\.name) == ["web", "db", "migrate"])
        #expect(project.startOrder(of: project.services).map(\.name) == ["db", "migrate", "web"])
        let web = try #require(project.service("web"))
        #expect(web.image == "busybox:1.36")
        #expect(web.environment == ["DB_HOST": "db", "GREETING": "hello $USER"])
        #expect(web.dependsOn == ["db": .healthy, "migrate": .completedSuccessfully])
        #expect(web.restart == "on-failure" && web.restartRetries == 3 && web.replicas == 2)
        #expect(web.ports == [
            .init(hostIP: "127.0.0.1", hostPort: 8080, containerPort: 8080, proto: "tcp"),
            .init(hostIP: nil, hostPort: nil, containerPort: 9000, proto: "udp"),
        ])
        let db = try #require(project.service("db"))
        #expect(db.command == ["sh", "-c", "touch /ready; sleep 3600"])
        #expect(db.volumes == [
            .init(kind: .volume, source: "data", target: "/var/lib/db", readOnly: false),
            .init(kind: .volume, source: nil, target: "/cache", readOnly: false),
        ])
        #expect(db.healthcheck == .init(test: ["CMD", "test", "-f", "/ready"], interval: 1_000_000_000, timeout: 90_000_000_000, startPeriod: nil, retries: 3))
        #expect(db.adminOnly.isEmpty)
        #expect(project.volumes.map(\.key) == ["data"])
        #expect(try parse(Self.threeServices).service("web")?.image == "busybox:latest", "the default")
    }

    @Test func aRequiredVariableThatIsMissingIsAnErrorOnItsLine() {
        let yaml = """
            services:
              app:
                image: busybox
                environment:
                  PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD in .env}
            """
        #expect(issues(yaml) == [ComposeIssue("app.environment.PASSWORD: DB_PASSWORD: set DB_PASSWORD in .env", line: 5)])
        #expect(issues(yaml, ["DB_PASSWORD": "s3cret"]).isEmpty)
        #expect(issues(yaml, ["DB_PASSWORD": ""]).count == 1, ":? takes an empty value as missing")
    }

    @Test func interpolationKnowsEveryForm() throws {
        let variables = ["SET": "v", "EMPTY": ""]
        let interpolation = Interpolation(variables: variables)
        #expect(try interpolation.interpolate("$SET ${SET} ${EMPTY:-d} ${EMPTY-d} ${MISSING-d} ${SET:+yes} ${MISSING+yes}|").text == "v v d  d yes |")
        #expect(try interpolation.interpolate("$$SET costs $5").text == "$SET costs $5")
        #expect(try interpolation.interpolate("${MISSING:-${SET}-x}").text == "v-x")
        #expect(try interpolation.interpolate("a${MISSING}b").unset == ["MISSING"])
        #expect(throws: Interpolation.Failure.self) { try interpolation.interpolate("${SET") }
        #expect(throws: Interpolation.Failure.self) { try interpolation.interpolate("${1X}") }
        #expect(throws: Interpolation.Failure.self) { try interpolation.interpolate("${MISSING?}") }
    }

    @Test func anEnvFileReadsQuotesCommentsAndExport() throws {
        let pairs = try DotEnv.parse("""
            # settings
            export TAG=1.36
            NAME='it''s $literal'
            GREETING="line\\none"
            PLAIN=value # a comment

            EMPTY=
            """)
        #expect(pairs.map(\.key) == ["TAG", "NAME", "GREETING", "PLAIN", "EMPTY"])
        #expect(pairs.map(\.value) == ["1.36", "it''s $literal", "line\none", "value", ""])
        #expect(throws: DotEnv.Failure(message: "“just words” is not KEY=value", line: 2)) { try DotEnv.parse("A=1\njust words") }
    }

    @Test func envFileValuesGiveWayToEnvironment() throws {
        let project = try parse("""
            services:
              app:
                environment: [MODE=explicit]
                env_file: app.env
                image: busybox
            """, files: ["/srv/app/app.env": "MODE=file\nOTHER=1\n"])
        #expect(project.service("app")?.environment == ["MODE": "explicit", "OTHER": "1"])
        let unreadable = issues("services:\n  app:\n    image: busybox\n    env_file: missing.env\n")
        #expect(unreadable == [ComposeIssue("app.env_file: missing.env can't be read", line: 4)])
    }

    @Test func anUnsupportedKeyIsAnErrorNamingItAndItsLine() {
        let found = issues("""
            services:
              app:
                image: busybox
                secrets: [token]
                deploy:
                  resources: {}
              built:
                build: .
            secrets:
              token:
                file: ./token
            """)
        #expect(found.contains(ComposeIssue("app.secrets: is not supported by Berth", line: 4)))
        #expect(found.contains(ComposeIssue("app.deploy.resources: is not supported by Berth (only deploy.replicas)", line: 6)))
        #expect(found.contains { $0.line == 8 && $0.message.contains("built.build: Berth does not build images") })
        #expect(found.contains { $0.line == 10 && $0.message.hasPrefix("secrets: is not supported") })
    }

    @Test func referencesCyclesAndBadValuesAreCaught() {
        let found = issues("""
            services:
              a:
                image: busybox
                depends_on: [b, ghost]
                volumes: ["undeclared:/data"]
                networks: [elsewhere]
                ports: ["99999:80"]
                restart: sometimes
              b:
                image: busybox
                depends_on: [a]
                healthcheck:
                  interval: soon
            """)
        let messages = found.map(\.description)
        #expect(messages.contains("line 4: a depends on ghost, which is not a service here"))
        #expect(messages.contains("line 5: a mounts the volume undeclared, which volumes: does not declare"))
        #expect(messages.contains("line 6: a joins the network elsewhere, which networks: does not declare"))
        #expect(messages.contains { $0.hasPrefix("line 7: a.ports: “99999”") })
        #expect(messages.contains { $0.hasPrefix("line 8: a.restart: “sometimes”") })
        #expect(messages.contains { $0.hasPrefix("line 13: b.healthcheck.interval: “soon” is not a duration") })
        #expect(messages.contains { $0.contains("in a circle: a → b → a") })
        #expect(issues("services: [1, 2]") == [ComposeIssue("services must be a mapping (key: value)", line: 1)])
        #expect(issues("services:\n  app:\n    image: [unclosed\n").first?.message.hasPrefix("not valid YAML") == true)
    }

    @Test func bindMountsCapabilitiesAndPrivilegeAreForAdminsOnly() throws {
        let project = try parse("""
            services:
              app:
                image: busybox
                volumes:
                  - ./conf:/etc/app:ro
                  - type: bind
                    source: /var/log
                    target: /logs
                cap_add: [NET_ADMIN]
                privileged: true
            """)
        let app = try #require(project.service("app"))
        #expect(app.volumes.map(\.source) == ["/srv/app/conf", "/var/log"] && app.volumes[0].readOnly)
        #expect(app.adminOnly.map(\.description) == [
            "line 5: app: the bind mount of /srv/app/conf (admins only)", "line 5: app: the bind mount of /var/log (admins only)",
            "line 9: app: cap_add (admins only)", "line 10: app: privileged (admins only)",
        ])
    }

    @Test func theConfigHashFollowsTheConfigurationNotTheScale() throws {
        let before = try #require(try parse(Self.threeServices).service("web"))
        var scaled = before
        scaled.replicas = 5
        #expect(scaled.configHash == before.configHash, "the scale is not the configuration")
        let edited = try #require(try parse(Self.threeServices.replacingOccurrences(of: "DB_HOST: db", with: "DB_HOST: db2")).service("web"))
        #expect(edited.configHash != before.configHash)
        #expect(edited.changedKeys(from: before) == ["environment"])
        let retagged = try #require(try parse(Self.threeServices, ["TAG": "2"]).service("web"))
        #expect(retagged.changedKeys(from: before) == ["image"])
        #expect(try parse(Self.threeServices).service("web")?.configHash == before.configHash, "the same file, the same hash")
    }

    @Test func anchorsAndMergeKeysAreSharedLikeTheComposeCLIDoes() throws {
        let project = try parse("""
            x-common: &common
              image: busybox
              restart: always
              environment:
                LEVEL: info
            services:
              one:
                <<: *common
              two:
                <<: *common
                restart: "no"
            """)
        #expect(project.service("one")?.restart == "always" && project.service("one")?.environment == ["LEVEL": "info"])
        #expect(project.service("two")?.restart == "no" && project.service("two")?.image == "busybox")
    }

    @Test func profilesChooseWhichServicesRun() throws {
        let project = try parse("""
            services:
              app: {image: busybox}
              debug: {image: busybox, profiles: [debug]}
            """)
        #expect(project.active(profiles: []).map(\.name) == ["app"])
        #expect(project.active(profiles: ["debug"]).map(\.name) == ["app", "debug"])
    }

    @Test func longAndShortPortsMixInTheFilesOrderAndOutlandishNumbersAreRefused() throws {
        let project = try parse("""
            services:
              app:
                image: busybox
                ports:
                  - "8080:80"
                  - target: 443
                    published: "8443"
                    host_ip: 127.0.0.1
                  - 53/udp
            """)
        #expect(project.service("app")?.ports == [
            .init(hostIP: nil, hostPort: 8080, containerPort: 80, proto: "tcp"),
            .init(hostIP: "127.0.0.1", hostPort: 8443, containerPort: 443, proto: "tcp"),
            .init(hostIP: nil, hostPort: nil, containerPort: 53, proto: "udp"),
        ])
        let found = issues("""
            services:
              app:
                image: busybox
                healthcheck: {interval: 99999999999999999999s}
                deploy: {replicas: 100000}
            """)
        #expect(found.map(\.line) == [4, 5], "\(found)")
    }

    @Test func anObsoleteVersionAndAnUnsetVariableAreWarnings() throws {
        let project = try parse("version: '3.8'\nservices:\n  app:\n    image: busybox:${TAG}\n")
        #expect(project.warnings.map(\.description) == ["line 1: version: is obsolete and ignored", "line 4: TAG is not set; it counts as empty"])
    }
}

@Suite struct ComposeParserCompatibilityTests {
    func parse(_ yaml: String, files: [String: String] = [:]) throws(ComposeErrors) -> ComposeProject {
        try ComposeParser(variables: [:], projectDirectory: "/srv/app", readFile: { files[$0] }).parse(yaml)
    }

    func issues(_ yaml: String, files: [String: String] = [:]) -> [ComposeIssue] {
        do {
            _ = try parse(yaml, files: files)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func shortVolumeOptionsAreThoseTheComposeCLIAccepts() throws {
        let project = try parse("""
            services:
              app:
                image: busybox
                volumes:
                  - data:/ro:ro
                  - data:/rw:rw
                  - ./x:/cached:cached
                  - data:/delegated:delegated
                  - data:/consistent:consistent
                  - data:/z:z
                  - data:/bigz:Z
                  - data:/nocopy:nocopy
                  - data:/both:ro,nocopy
                  - ./y:/label:ro,z
                  - ./z:/bind:nocopy
                  - type: volume
                    source: data
                    target: /long
                    volume:
                      nocopy: true
            volumes:
              data:
            """)
        let mounts = try #require(project.service("app")).volumes
        #expect(mounts.map(\.target) == ["/ro", "/rw", "/cached", "/delegated", "/consistent", "/z", "/bigz", "/nocopy", "/both", "/label", "/bind", "/long"])
        #expect(mounts.filter(\.readOnly).map(\.target) == ["/ro", "/both", "/label"])
        #expect(mounts.filter(\.noCopy).map(\.target) == ["/nocopy", "/both", "/long"], "a bind mount has nothing to copy into")
        #expect(mounts[2] == .init(kind: .bind, source: "/srv/app/x", target: "/cached", readOnly: false))
        let unknown = issues("""
            services:
              app:
                image: busybox
                volumes:
                  - data:/ok:ro
                  - data:/d:ro,shared-ish
            volumes:
              data:
            """)
        #expect(unknown.count == 1 && unknown.first?.line == 6 && unknown.first?.message.contains("“shared-ish”") == true, "\(unknown)")
        #expect(issues("services:\n  app:\n    image: busybox\n    volumes:\n      - type: volume\n        target: /d\n        volume: {subpath: x}\n")
            .map(\.line) == [7])
    }

    @Test func noCopyLeavesTheHashOfMountsWithoutItAsItWas() throws {
        // Encoded only when set: the hash of every service deployed before the key existed stays the same.
        let plain = ComposeService.Mount(kind: .volume, source: "data", target: "/d", readOnly: false)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(plain)) as? [String: Any]
        #expect(object.map { Set($0.keys) } == ["kind", "source", "target", "readOnly"])
        #expect(try JSONDecoder().decode(ComposeService.Mount.self, from: JSONEncoder().encode(plain)) == plain)
        var service = ComposeService(name: "app", image: "busybox")
        service.volumes = [plain]
        var noCopy = service
        noCopy.volumes[0].noCopy = true
        #expect(noCopy.configHash != service.configHash)
        #expect(noCopy.changedKeys(from: service) == ["volumes"])
        #expect(try JSONDecoder().decode(ComposeService.Mount.self, from: JSONEncoder().encode(noCopy.volumes[0])).noCopy)
    }

    @Test func aCommentMayFollowAQuotedValueOrAnUnquotedOneAfterWhitespace() throws {
        let pairs = try DotEnv.parse("""
            SINGLE='v' # comment
            DOUBLE="v" # c
            TIGHT="v"#c
            PLAIN=v # c
            TAB=v\t# c
            HASH=a#b
            QUOTED_HASH='a # b' # c
            INNER='it''s'
            ESCAPED="say \\"hi\\"" # c
            """)
        #expect(pairs.map(\.value) == ["v", "v", "v", "v", "v", "a#b", "a # b", "it''s", "say \"hi\""])
        #expect(throws: DotEnv.Failure(message: "K: the quote is not closed", line: 1)) { try DotEnv.parse("K='v' trailing") }
        #expect(throws: DotEnv.Failure(message: "K: the quote is not closed", line: 1)) { try DotEnv.parse("K=\"v\\\"") }
    }

    @Test func anIPv6HostAddressIsInBrackets() throws {
        let project = try parse("""
            services:
              app:
                image: busybox
                ports: ["[::1]:8080:80", "[::1]::80", "[fe80::1%eth0]:53:53/udp"]
            """)
        #expect(project.service("app")?.ports == [
            .init(hostIP: "::1", hostPort: 8080, containerPort: 80, proto: "tcp"),
            .init(hostIP: "::1", hostPort: nil, containerPort: 80, proto: "tcp"),
            .init(hostIP: "fe80::1%eth0", hostPort: 53, containerPort: 53, proto: "udp"),
        ])
        let found = issues("""
            services:
              app:
                image: busybox
                ports: ["[::1]:80"]
            """)
        #expect(found.map(\.line) == [4] && found.first?.message.contains("[IPv6]") == true, "\(found)")
        #expect(issues("services:\n  app:\n    image: busybox\n    ports: [\"[::1:80:80\"]\n").map(\.line) == [4])
    }

    @Test func anEnvFileThatIsNotRequiredMayBeMissing() throws {
        let yaml = """
            services:
              app:
                image: busybox
                env_file:
                  - base.env
                  - path: ./local.env
                    required: false
                  - path: /etc/app/site.env
            """
        let files = ["/srv/app/base.env": "A=base\nB=base\n", "/etc/app/site.env": "B=site\n"]
        #expect(try parse(yaml, files: files).service("app")?.environment == ["A": "base", "B": "site"])
        var withLocal = files
        withLocal["/srv/app/local.env"] = "A=local\n"
        #expect(try parse(yaml, files: withLocal).service("app")?.environment == ["A": "local", "B": "site"], "later files win")
        #expect(issues(yaml, files: ["/srv/app/base.env": ""]) == [ComposeIssue("app.env_file: /etc/app/site.env can't be read", line: 8)])
        let wrong = issues("""
            services:
              app:
                image: busybox
                env_file:
                  - required: false
                  - path: a.env
                    required: maybe
                    format: raw
            """, files: ["/srv/app/a.env": ""])
        #expect(wrong.map(\.line) == [5, 7, 8], "\(wrong)")
    }

    @Test func volumesAndNetworksThatReachBeyondTheProjectAreForAdminsOnly() throws {
        let project = try parse("""
            services:
              app:
                image: busybox
                cap_add: [NET_ADMIN]
              sidecar:
                image: busybox
                network_mode: service:app
            volumes:
              plain:
              local:
                driver: local
              hostpath:
                driver_opts:
                  type: none
                  o: bind
                  device: /etc
              nfs:
                driver: some/plugin
              shared:
                external: true
            networks:
              back:
                driver: bridge
              wide:
                driver: macvlan
              outside:
                external: true
            """)
        #expect(project.adminOnly.map(\.description) == [
            "line 4: app: cap_add (admins only)",
            "line 14: the volume hostpath: driver_opts (admins only)",
            "line 18: the volume nfs: driver some/plugin (admins only)",
            "line 20: the volume shared: external (admins only)",
            "line 25: the network wide: driver macvlan (admins only)",
            "line 27: the network outside: external (admins only)",
        ])
        #expect(project.service("sidecar")?.adminOnly == [], "another service's network is the project's own")
        let host = try parse("services:\n  app:\n    image: busybox\n    network_mode: host\n")
        #expect(host.adminOnly == [ComposeIssue("app: network_mode host (admins only)", line: 4)])
    }

    @Test func aServiceWhoseNetworkAServiceSharesStartsFirst() throws {
        let yaml = """
            services:
              sidecar:
                image: busybox
                network_mode: service:vpn
              vpn:
                image: busybox
            """
        let project = try parse(yaml)
        #expect(project.startOrder(of: project.services).map(\.name) == ["vpn", "sidecar"])
        let sidecar = try #require(project.service("sidecar"))
        #expect(sidecar.dependsOn.isEmpty && sidecar.startsAfter == ["vpn"], "not in depends_on: the hash stays the file's")
        #expect(issues(yaml.replacingOccurrences(of: "service:vpn", with: "service:ghost"))
            == [ComposeIssue("sidecar shares the network of ghost, which is not a service here", line: 4)])
        let circle = issues(yaml + "\n    depends_on: [sidecar]\n")
        #expect(circle.contains { $0.message.contains("in a circle: sidecar → vpn → sidecar") }, "\(circle)")
    }
}
