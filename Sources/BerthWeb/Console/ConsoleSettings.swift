/// How long consoles may stay open, how many, how much of each is recorded, and where the terminal library is.
public struct ConsoleSettings: Sendable {
    /// Seconds without a keystroke before a console closes (`--console-idle-timeout`).
    public var idleTimeout = 15 * 60
    /// Seconds a console may stay open at all (`--console-max-duration`).
    public var maxDuration = 8 * 3600
    /// Consoles per person (`--console-max-per-user`) and in all (`--console-max`).
    public var perUser = 4
    public var total = 32
    /// KiB of asciicast text recorded per console (`--console-record-max`).
    public var recordMaxKiB = 16 * 1024
    /// xterm.js as Debian installs it: its CommonJS modules (`node-xterm`) and its addons and CSS (`libjs-xterm`).
    public var terminalModules = "/usr/share/nodejs/xterm/lib"
    public var terminalAddons = "/usr/share/javascript/xterm"

    public init() {}

    var recordMaxBytes: Int { recordMaxKiB * 1024 }
}
