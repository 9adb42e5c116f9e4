import Foundation
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO
import ServiceLifecycle

/// The PostgreSQL cluster and broker process shared by a whole test run, started on first use.
public actor TestEnvironment {
    public static let shared = TestEnvironment()

    private var starting: Task<(TestPostgres, TestBroker), any Error>?

    /// Starts both on the first call; every caller, concurrent ones too, gets the same pair.
    public func postgresAndBroker() async throws -> (TestPostgres, TestBroker) {
        if starting == nil {
            starting = Task {
                trace("starting PostgreSQL")
                let postgres = try await TestPostgres.make()
                trace("starting broker")
                let broker = try await TestBroker()
                trace("broker at \(broker.bootstrapServers)")
                return (postgres, broker)
            }
        }
        return try await starting!.value
    }
}

/// A logger for tests: warnings and above, to standard error.
public func testLogger(_ label: String = "test") -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = ProcessInfo.processInfo.environment["GATEHOUSE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}

/// Runs `services` in a service group while `body` runs, then shuts them down gracefully.
public func withServices<T: Sendable>(
    _ services: [any Service],
    logger: Logger = testLogger(),
    _ body: () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// Polls `condition` until it holds, failing after `timeout`.
public func eventually(
    _ what: String,
    timeout: Duration = .seconds(60),
    interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: interval)
    }
    throw TestSupportError("timed out waiting for: \(what)")
}

/// A small deterministic random number generator (SplitMix64) for seeded shuffles.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Progress lines on standard error when `GATEHOUSE_TEST_TRACE` is set.
public func trace(_ message: @autoclosure () -> String) {
    guard ProcessInfo.processInfo.environment["GATEHOUSE_TEST_TRACE"] != nil else { return }
    FileHandle.standardError.write(Data("[trace] \(message())\n".utf8))
}

extension PostgresClient {
    /// The number of rows of `schema.table` (what a test checks was, or was not, written).
    public func rowCount(of table: String, in schema: SchemaName) async throws -> Int64 {
        let rows = try await query("SELECT count(*) FROM \(schema).\(unescaped: "\"" + table + "\"")")
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }
}
