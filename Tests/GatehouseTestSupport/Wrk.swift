import Foundation

/// Runs wrk (Debian's HTTP load generator, a C program: the server under test gets the CPU),
/// for the benchmarks. Any answer outside 2xx/3xx fails the run.
public enum Wrk {
    public struct Result: Sendable {
        public var requestsPerSecond: Double
        public var p50: String
        public var p99: String

        /// wrk's `1.23ms`, `850.00us` or `1.05s` in milliseconds.
        public static func milliseconds(_ text: String) -> Double? {
            for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
                return Double(text.dropLast(unit.count)).map { $0 * factor }
            }
            return nil
        }

        public var p50Milliseconds: Double { Self.milliseconds(p50) ?? .nan }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `threads` threads and `connections` connections for `seconds`; prints one line and returns the figures.
    @discardableResult
    public static func run(
        _ name: String,
        url: String,
        arguments: [String] = [],
        threads: Int = 2,
        connections: Int,
        seconds: Int,
        environment: [String: String] = [:]
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency"] + arguments + [url]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        func field(_ prefix: String) -> String? {
            output.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
        }
        guard process.terminationStatus == 0, let rate = field("Requests/sec:").flatMap(Double.init) else {
            throw Failure(description: "wrk failed: \(output)")
        }
        if let failures = field("Non-2xx or 3xx responses:") { throw Failure(description: "\(name): \(failures) failed responses") }
        let result = Result(requestsPerSecond: rate, p50: field("50%") ?? "?", p99: field("99%") ?? "?")
        print("\(name): \(Int(rate))/s, p50 \(result.p50), p99 \(result.p99) (wrk, \(connections) connections, \(seconds) s)")
        return result
    }
}
