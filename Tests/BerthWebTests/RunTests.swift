@testable import BerthWeb
import BerthStore
import Compose
import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

@Suite struct CommandLineSplitterTests {
    @Test func splitsLikeAShellWithoutExpanding() throws {
        #expect(try CommandLineSplitter.split("echo hello world") == ["echo", "hello", "world"])
        #expect(try CommandLineSplitter.split(#"echo "hello world""#) == ["echo", "hello world"])
        #expect(try CommandLineSplitter.split(#"sh -c 'echo $HOME; ls *'"#) == ["sh", "-c", "echo $HOME; ls *"])
        #expect(try CommandLineSplitter.split(#"a\ b "c \"d\" \$x" e''f"#) == ["a b", #"c "d" $x"#, "ef"])
        #expect(try CommandLineSplitter.split("  ") == [])
        #expect(try CommandLineSplitter.split("''") == [""])
        #expect(try CommandLineSplitter.split("$(rm -rf /) `id` ; | &") == ["$(rm", "-rf", "/)", "`id`", ";", "|", "&"])
    }

    @Test func unclosedQuotesAreErrors() {
        #expect(throws: CommandLineSplitter.SplitError.self) { try CommandLineSplitter.split("echo 'oops") }
        #expect(throws: CommandLineSplitter.SplitError.self) { try CommandLineSplitter.split(#"echo "oops"#) }
        #expect(throws: CommandLineSplitter.SplitError.self) { try CommandLineSplitter.split(#"echo \"#) }
    }
}

@Suite struct RunFormTests {
    func form(_ fields: [String: String]) -> FormFields {
        FormFields(fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&"))
    }

    @Test func buildsTheCreateBodyFromTypedFieldsOnly() throws {
        let run = try RunForm(form([
            "image": "busybox", "command": "echo hi", "env": "A=1\nB=two words", "labels": "team=x",
            "ports": "8080:80\n127.0.0.1:9090:90/udp\n443", "mounts": "data:/data:ro", "network": "none", "restart": "on-failure:3",
            "HostConfig": #"{"Privileged":true}"#,
        ]))
        let body = run.createRequest
        #expect(body.cmd == ["echo", "hi"])
        #expect(body.env == ["A=1", "B=two words"])
        #expect(body.exposedPorts?.keys.sorted() == ["443/tcp", "80/tcp", "90/udp"])
        #expect(body.hostConfig?.portBindings?["80/tcp"] == [.init(hostIP: nil, hostPort: "8080")])
        #expect(body.hostConfig?.portBindings?["90/udp"] == [.init(hostIP: "127.0.0.1", hostPort: "9090")])
        #expect(body.hostConfig?.portBindings?["443/tcp"] == nil)
        #expect(body.hostConfig?.mounts == [.init(type: "volume", source: "data", target: "/data", readOnly: true)])
        #expect(body.hostConfig?.restartPolicy == RestartPolicy(name: "on-failure", maximumRetryCount: 3))
        // A field named like an engine option does nothing.
        #expect(body.hostConfig?.privileged == nil)
        #expect(run.adminOnlyOptions.isEmpty)
        // The audit keeps env keys, never values.
        #expect(run.auditParameters["envKeys"] == "A,B")
        #expect(!run.auditParameters.values.contains { $0.contains("two words") })
    }

    @Test func adminOnlyOptionsAreRecognised() throws {
        #expect(try RunForm(form(["image": "busybox", "privileged": "1"])).adminOnlyOptions == ["Privileged"])
        #expect(try RunForm(form(["image": "busybox", "capAdd": "NET_ADMIN"])).adminOnlyOptions == ["CapAdd"])
        #expect(try RunForm(form(["image": "busybox", "network": "host"])).adminOnlyOptions == ["NetworkMode=host"])
        #expect(try RunForm(form(["image": "busybox", "hostPID": "on"])).adminOnlyOptions == ["PidMode=host"])
    }

    @Test(arguments: [
        ["image": ""], ["image": "bad image"], ["image": "b", "env": "=x"], ["image": "b", "ports": "99999:1"],
        ["image": "b", "ports": "80/icmp"], ["image": "b", "mounts": "relative"], ["image": "b", "restart": "sometimes"],
        ["image": "b", "command": "echo 'open"], ["image": "b", "workingDir": "rel"],
    ])
    func badInputIsAMessage(_ fields: [String: String]) {
        #expect(throws: InputError.self) { try RunForm(form(fields)) }
    }
}

/// Running containers from the browser against the real engine.
@Suite struct RunTests {
    func run(_ client: some TestClientProtocol, _ browser: Browser, _ fields: [(String, String)]) async throws -> TestResponse {
        try await client.execute(uri: "/containers/run", method: .post, headers: browser.postHeaders(), body: formBody(fields))
    }

    func label(_ run: String) -> (String, String) { ("labels", "\(TestEngine.label)=1\nberth.test.run=\(run)") }

    func cleanUp(_ engine: EngineClient, run: String) async throws {
        for container in try await engine.listContainers(all: true, filters: .init(label: ["berth.test.run=\(run)"])) {
            try? await engine.removeContainer(container.id, force: true)
        }
    }

    @Test func foregroundEchoHelloWorldShowsTheOutputAndExitCode() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await run(client, browser, [("image", "busybox"), ("command", "echo hello world"), ("network", "none"), label(runID)])
                #expect(response.status == .ok)
                let html = response.text
                #expect(html.contains(#"<pre class="output stdout">hello world"#))
                #expect(html.contains(#"<dd class="exit-code">0</dd>"#))
                let event = try #require(try await app.auditEvents().first { $0.action == "container.run" })
                #expect(event.outcome == .ok)
                #expect(event.actor == "bt-operator")
                #expect(event.parameters?.contains(#""exitCode":"0""#) == true)
                #expect(event.parameters?.contains(#""cmd":"echo hello world""#) == true)
            }
            try await cleanUp(engine, run: runID)
        }
    }

    @Test func stderrIsShownApartAndTheExitCodeAsIs() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await run(client, browser, [
                    ("image", "busybox"), ("command", "sh -c 'echo to-out; echo to-err >&2; exit 3'"), ("autoRemove", "1"), label(runID),
                ])
                let html = response.text
                #expect(html.contains(#"<pre class="output stdout">to-out"#))
                #expect(html.contains(#"<pre class="output stderr">to-err"#))
                #expect(html.contains(#"<dd class="exit-code">3</dd>"#))
                #expect(html.contains("The container was removed."))
            }
            #expect(try await engine.listContainers(all: true, filters: .init(label: ["berth.test.run=\(runID)"])).isEmpty)
        }
    }

    @Test func oneArgumentPerLineIsTakenLiterally() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp { client, _ in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await run(client, browser, [
                    ("image", "busybox"), ("commandMode", "lines"), ("command", "echo\n'quoted' and $HOME"), ("autoRemove", "1"), label(runID),
                ])
                #expect(response.text.contains(#"<pre class="output stdout">&#39;quoted&#39; and $HOME"#))
            }
            try await cleanUp(engine, run: runID)
        }
    }

    @Test func aForegroundRunStillGoingAfterTheWaitSaysSo() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp(configure: { $0.foregroundWait = .seconds(1) }) { client, _ in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await run(client, browser, [("image", "busybox"), ("command", "sh -c 'echo started; sleep 30'"), label(runID)])
                #expect(response.status == .ok)
                #expect(response.text.contains("It is still running"))
                #expect(response.text.contains("started"))
            }
            try await cleanUp(engine, run: runID)
        }
    }

    @Test func detachedRunsGoToTheContainersPage() async throws {
        let runID = UUID().uuidString
        let name = TestEngine.uniqueName("detached")
        try await TestEngine.withClient { engine in
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let response = try await run(client, browser, [
                    ("image", "busybox"), ("name", name), ("command", "sleep 300"), ("mode", "detached"),
                    ("env", "SECRET=hunter2"), label(runID),
                ])
                #expect(response.status == .seeOther)
                let location = try #require(response.headers[.location])
                #expect(location.hasPrefix("/containers/"))
                let inspect = try await engine.inspectContainer(name)
                #expect(location == "/containers/\(inspect.id)")
                #expect(inspect.state?.running == true)
                #expect(inspect.config?.env?.contains("SECRET=hunter2") == true)
                #expect(inspect.hostConfig?.networkMode == "none")
                let event = try #require(try await app.auditEvents().first { $0.action == "container.run" })
                #expect(event.parameters?.contains(#""envKeys":"SECRET""#) == true)
                #expect(!(event.parameters ?? "").contains("hunter2"))
            }
            try await cleanUp(engine, run: runID)
        }
    }

    @Test func operatorsMayNotAskForPrivilegedOptions() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                for extra in [[("privileged", "1")], [("mounts", "/:/host")], [("capAdd", "SYS_ADMIN")], [("network", "host")]] {
                    let response = try await run(client, browser, [("image", "busybox"), ("command", "true"), label(runID)] + extra)
                    #expect(response.status == .forbidden, "\(extra)")
                    #expect(response.text.contains("Nothing was created."))
                }
                #expect(try await engine.listContainers(all: true, filters: .init(label: ["berth.test.run=\(runID)"])).isEmpty)
                let denied = try await app.auditEvents().filter { $0.action == "container.run" && $0.outcome == .denied }
                #expect(denied.count == 4)
                #expect(denied.contains { $0.errorMessage == "admin-only options: Privileged" })
                #expect(denied.contains { $0.errorMessage == "admin-only options: bind mount" })
            }
        }
    }

    /// The reviewers' reproduction: a named volume an admin made over a host folder let an operator's container
    /// read and write that folder.
    @Test func operatorsMayNotMountAVolumeThatReachesTheHost() async throws {
        let runID = UUID().uuidString
        let hostFolder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: hostFolder) }
        let bound = "berth-test-bound-\(runID.prefix(8).lowercased())"
        let plain = "berth-test-plain-\(runID.prefix(8).lowercased())"
        let memory = "berth-test-tmpfs-\(runID.prefix(8).lowercased())"
        try await TestEngine.withClient { engine in
            _ = try await engine.createVolume(VolumeCreateRequest(
                name: bound, driverOpts: ["type": "none", "o": "bind", "device": hostFolder.path], labels: ["berth.test": "1"]
            ))
            _ = try await engine.createVolume(VolumeCreateRequest(name: plain, driverOpts: [:], labels: ["berth.test": "1"]))
            _ = try await engine.createVolume(VolumeCreateRequest(
                name: memory, driverOpts: ["type": "tmpfs", "device": "tmpfs", "o": "size=1m"], labels: ["berth.test": "1"]
            ))
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let refused = try await run(client, browser, [
                    ("image", "busybox"), ("command", "touch /data/owned"), ("mounts", "\(bound):/data"), label(runID),
                ])
                #expect(refused.status == .forbidden)
                #expect(refused.text.contains("Nothing was created."))
                #expect(!FileManager.default.fileExists(atPath: hostFolder.appendingPathComponent("owned").path))
                #expect(try await engine.listContainers(all: true, filters: .init(label: ["berth.test.run=\(runID)"])).isEmpty)
                let denied = try #require(try await app.auditEvents().first { $0.action == "container.run" && $0.outcome == .denied })
                #expect(denied.errorMessage?.contains("volume \(bound) (driver local, device=\(hostFolder.path),o=bind,type=none)") == true)

                // Volumes that stay in the engine's own storage (or memory), and one not made yet, are fine.
                for source in [plain, memory, "berth-test-new-\(runID.prefix(8).lowercased())"] {
                    let allowed = try await run(client, browser, [
                        ("image", "busybox"), ("command", "true"), ("mounts", "\(source):/data"), ("autoRemove", "1"), label(runID),
                    ])
                    #expect(allowed.status == .ok, "\(source)")
                }
            }
            try await cleanUp(engine, run: runID)
            for name in [bound, plain, memory, "berth-test-new-\(runID.prefix(8).lowercased())"] { try? await engine.removeVolume(name, force: true) }
        }
    }

    /// The reviewers' reproductions: a 102,401-character name was created, invalid UTF-8 or NUL in name or image
    /// came back as 502, NUL in the environment left a container that can't start.
    @Test func badInputIsRefusedClearlyAndLeavesNothingBehind() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let cases: [([(String, String)], String)] = [
                    ([("name", String(repeating: "n", count: 102_401))], NameRules.objectNameRule),
                    ([("name", "bad/name")], NameRules.objectNameRule),
                    ([("name", "nul\u{0}name")], "holds a NUL character"),
                    ([("env", "A=1\u{0}2")], "holds a NUL character"),
                    ([("image", "busy\u{0}box")], "holds a NUL character"),
                ]
                for (extra, message) in cases {
                    let fields = [("image", "busybox"), ("command", "true"), label(runID)].filter { field in !extra.contains { $0.0 == field.0 } }
                    let response = try await run(client, browser, fields + extra)
                    #expect(response.status == .badRequest, "\(extra.map { ($0.0, $0.1.prefix(20)) })")
                    #expect(response.text.contains(message), "\(extra.map { ($0.0, $0.1.prefix(20)) })")
                }
                // Invalid UTF-8 stays as typed (percent escapes kept), and is refused as the user's error.
                var request = formBody([("command", "true"), label(runID)])
                request.writeString("&image=busy%FFbox&name=n%C3%28")
                let invalid = try await client.execute(uri: "/containers/run", method: .post, headers: browser.postHeaders(), body: request)
                #expect(invalid.status == .badRequest)
                // What only the engine judges: its refusal is the user's 400, in its words.
                let upper = try await run(client, browser, [("image", "BusyBox"), ("command", "true"), label(runID)])
                #expect(upper.status == .badRequest)
                #expect(upper.text.contains("must be lowercase"))
                #expect(try await engine.listContainers(all: true, filters: .init(label: ["berth.test.run=\(runID)"])).isEmpty, "nothing left behind")
                _ = app
            }
            try await cleanUp(engine, run: runID)
        }
    }

    @Test func anAdminMayBindMountAndAViewerMayNotRun() async throws {
        let runID = UUID().uuidString
        try await TestEngine.withClient { engine in
            try await withTestApp { client, _ in
                let admin = try await signIn(client, as: "bt-admin")
                let response = try await run(client, admin, [
                    ("image", "busybox"), ("command", "cat /host/hostname"), ("mounts", "/etc:/host:ro"), ("autoRemove", "1"), label(runID),
                ])
                let hostname = (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                #expect(response.text.contains(#"<pre class="output stdout">\#(hostname)"#))
                let viewer = try await signIn(client, as: "bt-viewer")
                #expect(try await run(client, viewer, [("image", "busybox"), label(runID)]).status == .forbidden)
                #expect(try await client.execute(uri: "/containers/new", method: .get, headers: viewer.getHeaders).status == .forbidden)
            }
            try await cleanUp(engine, run: runID)
        }
    }

    @Test func aNameInUseAndAMissingImageGiveClearMessages() async throws {
        try await TestEngine.withContainers { _, scope in
            let name = TestEngine.uniqueName("taken")
            try await scope.busybox(["sleep", "300"], name: name)
            try await withTestApp { client, app in
                let browser = try await signIn(client, as: "bt-operator")
                let taken = try await run(client, browser, [("image", "busybox"), ("name", name), ("command", "true")])
                #expect(taken.status == .conflict)
                #expect(taken.text.contains("is already in use"))
                let missing = try await run(client, browser, [("image", "berth-no-such-image:1"), ("command", "true")])
                #expect(missing.status == .notFound)
                #expect(missing.text.contains("The image berth-no-such-image:1 is not on this engine. Pull it first"))
                // The form comes back filled in, with a pull of the missing image offered.
                #expect(missing.text.contains(#"value="berth-no-such-image:1""#))
                #expect(missing.text.contains(#"<form method="post" action="/images/pull""#))
                #expect(missing.text.contains(#"<input type="hidden" name="reference" value="berth-no-such-image:1">"#))
                #expect(missing.text.contains(#"href="/images?reference=berth%2Dno%2Dsuch%2Dimage%3A1""#))
                #expect(!taken.text.contains(#"action="/images/pull""#))
                #expect(try await app.auditEvents().filter { $0.action == "container.run" && $0.outcome == .error }.count == 2)
            }
        }
    }
}

@Suite struct CommitAndLogsTests {
    @Test func commitProducesAnImageWithTheLabelsAuthorAndMessage() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sh", "-c", "echo made > /made.txt"])
            _ = try await engine.waitContainer(id)
            let repository = "berth-test-commit-\(UUID().uuidString.prefix(8).lowercased())"
            try await withTestApp { client, app in
                let admin = try await signIn(client, as: "bt-admin")
                let response = try await client.execute(
                    uri: "/containers/\(id)/commit", method: .post, headers: admin.postHeaders(),
                    body: formBody([("repository", repository), ("tag", "v1"), ("message", "snapshot for tests"), ("labels", "purpose=test"), ("pause", "1")])
                )
                #expect(response.status == .seeOther)
                // A job, whose page leads to the new image's.
                let job = try await finishedJob(after: response, app)
                #expect(job.state == .succeeded, "\(String(describing: job.message))")
                let image = try await engine.inspectImage("\(repository):v1")
                #expect(job.message?.contains(image.id) == true)
                let jobPage = try await client.execute(uri: try #require(response.headers[.location]), method: .get, headers: admin.getHeaders)
                let imageLink = "/images/\(EngineClientPath.escape("\(repository):v1"))"
                #expect(jobPage.text.contains(imageLink))
                let imagePage = try await client.execute(uri: imageLink, method: .get, headers: admin.getHeaders)
                #expect(imagePage.status == .ok)
                #expect(imagePage.text.contains("\(repository):v1"))
                #expect(imagePage.text.contains("snapshot for tests"))
                #expect(imagePage.text.contains("purpose=test"))
                #expect(image.author == "bt-admin")
                #expect(image.comment == "snapshot for tests")
                #expect(image.config?.labels?["purpose"] == "test")
                let event = try #require(try await app.auditEvents().first { $0.action == "container.commit" })
                #expect(event.outcome == .ok)
                #expect(event.parameters?.contains(image.id) == true)
                // Operators may not commit.
                let operatorBrowser = try await signIn(client, as: "bt-operator")
                let denied = try await client.execute(
                    uri: "/containers/\(id)/commit", method: .post, headers: operatorBrowser.postHeaders(), body: formBody([("repository", repository)])
                )
                #expect(denied.status == .forbidden)
            }
            let created = try await engine.createContainer(
                ContainerCreateRequest(image: "\(repository):v1", cmd: ["cat", "/made.txt"], labels: [TestEngine.label: "1"], hostConfig: .init(networkMode: "none")))
            await scope.adopt(created.id)
            try await engine.startContainer(created.id)
            _ = try await engine.waitContainer(created.id)
            #expect(try await engine.containerLogs(created.id).collect().stdoutText == "made\n")
        }
    }

    @Test func theLogsDownloadHoldsTheOutputAndViewersMayReadLogs() async throws {
        try await TestEngine.withContainers { engine, scope in
            let id = try await scope.busybox(["sh", "-c", "echo first; echo oops >&2; printf 'bad \\377 byte\\n'"], name: TestEngine.uniqueName("logs-b"))
            _ = try await engine.waitContainer(id)
            try await withTestApp { client, app in
                let viewer = try await signIn(client, as: "bt-viewer")
                let page = try await client.execute(uri: "/containers/\(id)/logs", method: .get, headers: viewer.getHeaders)
                #expect(page.status == .ok)
                #expect(page.text.contains("data-stream=\"/logs/stream?container=\(id)&amp;tail=500\""))
                #expect(page.text.contains(#"<script src="/js/logs.js" defer></script>"#))
                let download = try await client.execute(uri: "/containers/\(id)/logs/download", method: .get, headers: viewer.getHeaders)
                #expect(download.status == .ok)
                #expect(download.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"logs-b-") == true)
                #expect(download.text.contains("first\n"))
                #expect(download.text.contains("oops\n"))
                #expect(download.text.contains("bad \u{FFFD} byte"))
                let stamped = try await client.execute(uri: "/containers/\(id)/logs/download?timestamps=1", method: .get, headers: viewer.getHeaders)
                #expect(stamped.text.split(separator: "\n").allSatisfy { LogTimestamp(String($0.prefix { $0 != " " })) != nil })
                #expect(try await app.auditEvents().contains { $0.action == "container.logs.download" && $0.targetId == id && $0.actor == "bt-viewer" })
                let gone = try await client.execute(uri: "/containers/no-such-\(id)/logs/download", method: .get, headers: viewer.getHeaders)
                #expect(gone.status == .notFound)
            }
        }
    }
}

@Suite struct FastHTMLEscapingTests {
    @Test func escapesTheSameFiveCharactersAsMustache() {
        let escaper = FastHTMLContentType()
        #expect(escaper.escapeText(#"<img src="x" onerror='alert(1)'>&amp;"#) == "&lt;img src=&quot;x&quot; onerror=&#39;alert(1)&#39;&gt;&amp;amp;")
        #expect(escaper.escapeText("plain ünïcödé 🐳") == "plain ünïcödé 🐳")
        #expect(escaper.escapeText("") == "")
    }
}
