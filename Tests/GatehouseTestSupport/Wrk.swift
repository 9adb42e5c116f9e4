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

/// The repeated runs of one benchmark phase, for figures given with their spread: the run of
/// median rate (its p50 and p99 with it) and the lowest and highest rate.
public struct WrkSeries: Sendable {
    public private(set) var runs: [Wrk.Result] = []

    public init() {}

    public mutating func append(_ result: Wrk.Result) { runs.append(result) }

    /// The run of median rate (the lower middle one of an even count).
    public var median: Wrk.Result {
        let sorted = runs.sorted { $0.requestsPerSecond < $1.requestsPerSecond }
        return sorted[(sorted.count - 1) / 2]
    }

    /// `2738/s (2493–2995)`: the median rate and the range over the runs.
    public var rate: String {
        let rates = runs.map(\.requestsPerSecond)
        return String(format: "%.0f/s (%.0f–%.0f)", median.requestsPerSecond, rates.min() ?? 0, rates.max() ?? 0)
    }

    /// The ratio of this series to `base`, run by run (runs of the same index ran together):
    /// the median ratio and its range.
    public func ratio(to base: WrkSeries) -> (median: Double, text: String) {
        let ratios = zip(runs, base.runs).map { $0.requestsPerSecond / $1.requestsPerSecond }.sorted()
        guard !ratios.isEmpty else { return (.nan, "-") }
        let median = ratios[(ratios.count - 1) / 2]
        return (median, String(format: "%.2f (%.2f–%.2f)", median, ratios.first!, ratios.last!))
    }
}
