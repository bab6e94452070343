import Foundation

/// The real Linux users `scripts/test-users up` creates for the sign-in tests.
public enum TestUsers {
    /// The PAM service file the tests sign in through (a copy of `deploy/pam.d/berth`).
    public static let service = "berth-test"
    /// The same with a 2 s sleep inside PAM.
    public static let slowService = "berth-test-slow"

    public static let adminGroup = "bt-admins"
    public static let operatorGroup = "bt-operators"
    public static let viewerGroup = "bt-viewers"
    /// Members may open consoles (`--console-group`) whatever their role.
    public static let consoleGroup = "bt-console"

    /// Every test user's password, chosen at random by `scripts/test` for each run.
    public static func password() throws -> String {
        guard let password = ProcessInfo.processInfo.environment["BERTH_TEST_PASSWORD"], !password.isEmpty else {
            throw TestSetupError("BERTH_TEST_PASSWORD is not set: run the tests with scripts/test, which creates the test users")
        }
        return password
    }

    /// Runs a command as root (the tests do), failing the test with its output when it fails.
    /// Runs a command; its output (standard output and error together), or an error with it when it fails.
    @discardableResult
    public static func shell(_ arguments: String...) throws -> String {
        try shell(arguments)
    }

    /// The same, with the arguments as an array.
    @discardableResult
    public static func shell(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestSetupError("\(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}
