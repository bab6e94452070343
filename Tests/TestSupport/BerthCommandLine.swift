import Foundation

/// The built `berth` binary, run as an operator would from a shell.
public enum BerthCommandLine {
    public static var binary: URL { Repository.root.appendingPathComponent(".build/debug/berth") }

    public struct Run: Sendable {
        public let status: Int32
        public let output: String
        public let errors: String
    }

    /// Runs the binary to its end. `environment` replaces the test's own when given.
    public static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            errors: String(decoding: errorData, as: UTF8.self)
        )
    }
}
