import EngineAPI
import NIOCore
import Testing
import TestSupport

/// The Engine API guide's first example and its error cases, against the real engine.
@Suite struct ContainerLifecycleTests {
    @Test func echoHelloWorldEndToEnd() async throws {
        try await TestEngine.withClient { client in
            let name = TestEngine.uniqueName("hello")
            let created = try await client.createContainer(
                ContainerCreateRequest(
                    image: "busybox", cmd: ["echo", "hello world"], labels: [TestEngine.label: "1"],
                    hostConfig: .init(networkMode: "none")
                ),
                name: name
            )
            #expect(try await client.startContainer(created.id) == .changed)
            let exit = try await client.waitContainer(created.id)
            #expect(exit.statusCode == 0)
            let inspect = try await client.inspectContainer(name)
            #expect(inspect.id == created.id)
            #expect(inspect.state?.status == "exited")
            #expect(inspect.config?.tty == false)
            let logs = try await client.containerLogs(created.id).collect()
            #expect(logs.stdoutText == "hello world\n")
            #expect(logs.stderr.isEmpty)
            try await client.removeContainer(created.id)
            await #expect {
                _ = try await client.inspectContainer(created.id)
            } throws: { ($0 as? EngineError)?.kind == .notFound }
        }
    }

    @Test func stderrIsDemultiplexedApartFromStdout() async throws {
        try await TestEngine.withContainers { client, scope in
            let id = try await scope.busybox(["sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"])
            #expect(try await client.waitContainer(id).statusCode == 0)
            let logs = try await client.containerLogs(id).collect()
            #expect(logs.stdoutText == "out1\nout2\n")
            #expect(logs.stderrText == "err1\nerr2\n")
            // Only stderr when asked for only stderr.
            let onlyErr = try await client.containerLogs(id, options: LogOptions(stdout: false)).collect()
            #expect(onlyErr.stdout.isEmpty)
            #expect(onlyErr.stderrText == "err1\nerr2\n")
        }
    }

    @Test func tailLimitsTheLines() async throws {
        try await TestEngine.withContainers { client, scope in
            let id = try await scope.busybox(["sh", "-c", "echo a; echo b; echo c"])
            #expect(try await client.waitContainer(id).statusCode == 0)
            let logs = try await client.containerLogs(id, options: LogOptions(tail: 2)).collect()
            #expect(logs.stdoutText == "b\nc\n")
        }
    }

    @Test func aTTYContainersLogsAreReadRaw() async throws {
        try await TestEngine.withContainers { client, scope in
            let id = try await scope.busybox(["sh", "-c", "echo out; echo err >&2"], tty: true)
            #expect(try await client.waitContainer(id).statusCode == 0)
            var frames: [LogFrame] = []
            for try await frame in try await client.containerLogs(id) { frames.append(frame) }
            #expect(!frames.isEmpty)
            #expect(frames.allSatisfy { $0.stream == .tty })
            // A TTY turns \n into \r\n and mixes both streams into one.
            let text = frames.map(\.text).joined()
            #expect(text == "out\r\nerr\r\n")
        }
    }

    @Test func aMissingContainerIsTheTypedNotFoundError() async throws {
        try await TestEngine.withClient { client in
            let name = TestEngine.uniqueName("missing")
            await #expect {
                _ = try await client.inspectContainer(name)
            } throws: { error in
                guard let error = error as? EngineError, case .daemon(404, let message) = error else { return false }
                return error.kind == .notFound && message.contains("No such container") && message.contains(name)
            }
            await #expect {
                try await client.removeContainer(name)
            } throws: { ($0 as? EngineError)?.kind == .notFound }
            await #expect {
                try await client.stopContainer(name)
            } throws: { ($0 as? EngineError)?.kind == .notFound }
        }
    }

    @Test func startingAndStoppingTwiceIsNotAnError() async throws {
        try await TestEngine.withContainers { client, scope in
            let id = try await scope.busybox(["sleep", "300"])
            #expect(try await client.startContainer(id) == .alreadyInState)
            #expect(try await client.stopContainer(id, timeout: 0) == .changed)
            #expect(try await client.stopContainer(id, timeout: 0) == .alreadyInState)
            #expect(try await client.inspectContainer(id).state?.running == false)
        }
    }

    /// `/wait` answers its head at once and its body when the container stops: the request's timeout covers the body.
    @Test func anAnswerWhoseBodyDoesNotComeInTimeFailsAtItsDeadline() async throws {
        try await TestEngine.withContainers { client, scope in
            let id = try await scope.busybox(["sleep", "300"])
            let started = ContinuousClock.now
            await #expect {
                _ = try await client.waitContainer(id, timeout: .seconds(1))
            } throws: { error in
                guard case .unreachable(_, let reason) = error as? EngineError else { return false }
                return reason == "no answer in time"
            }
            let took = ContinuousClock.now - started
            #expect(took >= .seconds(1) && took < .seconds(5), "took \(took)")
            // The container was only waited for, not touched.
            #expect(try await client.inspectContainer(id).state?.running == true)
        }
    }

    @Test func conflictsAndBadParametersCarryTheDaemonsMessage() async throws {
        try await TestEngine.withContainers { client, scope in
            let name = TestEngine.uniqueName("taken")
            let id = try await scope.busybox(["sleep", "300"], name: name)
            // The same name again: 409.
            await #expect {
                try await scope.busybox(["true"], name: name)
            } throws: { error in
                guard let error = error as? EngineError else { return false }
                return error.kind == .conflict && "\(error)".contains(name)
            }
            // Removing a running container without force: 409 too.
            await #expect {
                try await client.removeContainer(id)
            } throws: { ($0 as? EngineError)?.kind == .conflict }
            // An invalid name: 400.
            await #expect {
                try await scope.busybox(["true"], name: "bad/name<x>", start: false)
            } throws: { ($0 as? EngineError)?.kind == .badParameter }
            // A missing image: 404 naming the image.
            await #expect {
                _ = try await client.createContainer(ContainerCreateRequest(image: "berth-no-such-image:1"))
            } throws: { error in
                guard let error = error as? EngineError else { return false }
                return error.kind == .notFound && "\(error)".contains("berth-no-such-image")
            }
        }
    }
}

/// `.` and `..` as references must never reach the engine as path segments: its router resolves them into other
/// endpoints (`/containers/../json` answers as `/json`, after a redirect).
@Suite struct DotSegmentTests {
    @Test(arguments: [".", ".."])
    func aDotReferenceIsNoSuchObjectAndNeverReachesTheEngine(_ reference: String) async throws {
        try await TestEngine.withClient { client in
            func isBerthsOwnNotFound(_ error: any Error) -> Bool {
                guard let error = error as? EngineError, error.kind == .notFound else { return false }
                return error.description == "No such object: \(reference)"
            }
            await #expect(performing: { _ = try await client.inspectContainer(reference) }, throws: isBerthsOwnNotFound)
            await #expect(performing: { try await client.removeContainer(reference, force: true) }, throws: isBerthsOwnNotFound)
            await #expect(performing: { _ = try await client.inspectImage(reference) }, throws: isBerthsOwnNotFound)
            await #expect(performing: { _ = try await client.removeImage(reference, force: true) }, throws: isBerthsOwnNotFound)
            await #expect(performing: { _ = try await client.containerLogs(reference, tty: false) }, throws: isBerthsOwnNotFound)
        }
    }

    /// Escaped once by Berth, decoded once by the engine: the engine sees the text as typed, never a dot segment.
    @Test(arguments: ["%2E%2E", "%2e", ".%2E"])
    func anEscapedDotIsTakenLiterally(_ reference: String) async throws {
        try await TestEngine.withClient { client in
            await #expect(performing: { _ = try await client.inspectContainer(reference) }, throws: { error in
                guard let error = error as? EngineError, error.kind == .notFound else { return false }
                return error.description.contains(reference)
            })
        }
    }
}
