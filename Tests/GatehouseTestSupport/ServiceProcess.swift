import Foundation
import GatehousePostgres

/// A Gatehouse service executable started as a real process on a port the system assigns
/// (`GATEHOUSE_HTTP_PORT=0`); the port is read from the server's "listening on" log line.
public struct ServiceProcess: Sendable {
    public let process: ChildProcess
    public let port: Int
    public var base: String { "http://127.0.0.1:\(port)" }

    /// The environment every service needs: its database and broker.
    public static func environment(database: PostgresSettings, kafka: String) -> [String: String] {
        [
            "GATEHOUSE_PG_HOST": database.host, "GATEHOUSE_PG_PORT": String(database.port), "GATEHOUSE_PG_USER": database.username,
            "GATEHOUSE_PG_DATABASE": database.database, "GATEHOUSE_KAFKA_BOOTSTRAP": kafka, "GATEHOUSE_SHUTDOWN_GRACE_SECONDS": "10",
        ]
    }

    /// Starts the executable's `serve`; `port` 0 lets the system choose.
    public static func start(_ executable: String, name: String, environment: [String: String], port: Int = 0) async throws -> ServiceProcess {
        var environment = environment
        environment["GATEHOUSE_HTTP_PORT"] = String(port)
        environment["GATEHOUSE_LOG_LEVEL"] = environment["GATEHOUSE_LOG_LEVEL"] ?? "info"
        environment["GATEHOUSE_LOG_FORMAT"] = "text"
        let process = try ChildProcess(
            executable: TestPaths.executable(executable),
            arguments: ["serve"],
            environment: environment,
            name: name,
            captureStandardError: true
        )
        let line = try await process.waitForLine(timeout: .seconds(90)) { $0.contains("listening on") }
        guard let range = line.range(of: #"listening on [^ ]*:(\d+)"#, options: .regularExpression),
            let port = Int(line[range].split(separator: ":").last ?? "")
        else {
            throw TestSupportError("\(name): no port in '\(line)'")
        }
        return ServiceProcess(process: process, port: port)
    }
}
