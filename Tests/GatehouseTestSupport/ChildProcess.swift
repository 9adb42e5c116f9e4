import Foundation
import Synchronization

/// A child process whose standard output is read line by line, for tests that start brokers,
/// relays and services as real processes.
public final class ChildProcess: Sendable {
    private let process: Process
    private let input: FileHandle
    private let lines = LineBuffer()
    public let name: String

    /// `captureStandardError`: read standard error into the output lines too (else it goes to
    /// the test's own standard error).
    public init(
        executable: URL,
        arguments: [String],
        environment: [String: String] = [:],
        name: String,
        captureStandardError: Bool = false
    ) throws {
        self.name = name
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = captureStandardError ? stdoutPipe : FileHandle.standardError
        try process.run()
        self.process = process
        self.input = stdinPipe.fileHandleForWriting
        let reader = stdoutPipe.fileHandleForReading
        let thread = Thread { [lines] in
            var pending = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    lines.append(line)
                }
            }
            if !pending.isEmpty { lines.append(String(decoding: pending, as: UTF8.self)) }
            lines.finish()
        }
        thread.name = "child-\(name)"
        thread.start()
    }

    public var output: [String] { lines.all }
    public var processIdentifier: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var terminationStatus: Int32 { process.isRunning ? -1 : process.terminationStatus }

    /// Waits for an output line satisfying `matches`, after the first `skip` lines.
    public func waitForLine(
        after skip: Int = 0,
        timeout: Duration = .seconds(30),
        where matches: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = lines.first(after: skip, where: matches) { return line }
            if !process.isRunning {
                await outputEnded()
                if let line = lines.first(after: skip, where: matches) { return line }
                let last = lines.all.suffix(5).joined(separator: "\n")
                throw TestSupportError("\(name) exited (\(process.terminationStatus)) before printing the expected line; its last output:\n\(last)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError("\(name) did not print the expected line within \(timeout); output: \(output.suffix(5))")
    }

    /// Runs one of the package's executables to its end (an operator command); its exit status
    /// (-1 if it was still running after `timeout`) and output lines. `captureStandardError`:
    /// standard error (progress, messages) goes into the output too.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        captureStandardError: Bool = true,
        timeout: Duration = .seconds(30)
    ) async throws -> (status: Int32, output: [String]) {
        let process = try ChildProcess(
            executable: TestPaths.executable(executable),
            arguments: arguments,
            environment: environment,
            name: "\(executable) \(arguments.first ?? "")",
            captureStandardError: captureStandardError
        )
        await process.waitForExit(timeout: timeout)
        await process.outputEnded()
        return (process.terminationStatus, process.output)
    }

    /// Waits (5 s at most) until the reader thread has read the pipe to its end: the exit can be
    /// seen before it has taken the last lines.
    private func outputEnded() async {
        let deadline = ContinuousClock.now + .seconds(5)
        while !lines.isFinished && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }

    /// Sends one line to the child's standard input.
    public func send(_ line: String) throws {
        try input.write(contentsOf: Data((line + "\n").utf8))
    }

    public func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Sends SIGKILL and waits until the process is gone.
    public func killHard() async {
        signal(SIGKILL)
        await waitForExit()
    }

    /// Sends SIGTERM and waits for the exit status.
    @discardableResult
    public func terminate(timeout: Duration = .seconds(30)) async -> Int32 {
        signal(SIGTERM)
        await waitForExit(timeout: timeout)
        return process.isRunning ? -1 : process.terminationStatus
    }

    public func waitForExit(timeout: Duration = .seconds(30)) async {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Output lines collected by the reader thread.
private final class LineBuffer: Sendable {
    private let lines = Mutex<[String]>([])
    private let finished = Atomic<Bool>(false)
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    /// The output has ended (end of file on the pipe).
    func finish() { finished.store(true, ordering: .sequentiallyConsistent) }
    var isFinished: Bool { finished.load(ordering: .sequentiallyConsistent) }
    var all: [String] { lines.withLock { $0 } }
    func first(after skip: Int, where matches: (String) -> Bool) -> String? {
        lines.withLock { $0.dropFirst(skip).first(where: matches) }
    }
}
