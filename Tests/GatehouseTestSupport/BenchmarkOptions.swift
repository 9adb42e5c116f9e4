import ArgumentParser
import Logging

/// The options every benchmark with a database shares.
public struct DatabaseOptions: ParsableArguments, Sendable {
    @Flag(inversion: .prefixedNo, help: "Run PostgreSQL with fsync and synchronous commit on.")
    public var durable = true

    public init() {}

    /// How the run's header names the database's durability.
    public var fsync: String { durable ? "on" : "off" }
}

/// The benchmarks' logger: errors only, so that logging costs nothing measured.
public func benchmarkLogger() -> Logger {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return logger
}
