#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Runs a program and waits for it with `waitpid` on a thread of its own, so a test's async tasks keep running.
public enum ChildProcess {
    /// Returns the exit status; stdout goes to /dev/null, stderr stays the test's.
    public static func run(_ path: String, _ arguments: [String]) async throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestSetupError("cannot start \(path): \(String(cString: strerror(spawned)))") }
        let child = pid
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(child, &status, 0) == -1 && errno == EINTR {}
                let exited = (status & 0x7f) == 0
                continuation.resume(returning: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }
}

extension Process {
    /// Ends a server a test started: TERM, and KILL when it has not exited within `grace` (a registry draining
    /// connections, or a program that inherited a blocked TERM from the test runner's thread, would keep the test
    /// waiting forever).
    public func stopServer(grace: Duration = .seconds(3)) {
        guard isRunning else { return }
        terminate()
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        if isRunning { kill(processIdentifier, SIGKILL) }
        waitUntilExit()
    }
}
