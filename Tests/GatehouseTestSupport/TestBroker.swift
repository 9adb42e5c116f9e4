import Foundation
import GatehouseKafka

/// The development broker (librdkafka's mock cluster) as a separate process.
public final class TestBroker: Sendable {
    public let process: ChildProcess
    public let bootstrapServers: String

    public init(partitions: Int = 6) async throws {
        process = try ChildProcess(
            executable: TestPaths.executable("gatehouse-dev-broker"),
            arguments: ["--partitions", String(partitions), "--exit-on-stdin-eof", "--exit-with-parent"],
            name: "dev-broker"
        )
        let line = try await process.waitForLine { $0.hasPrefix("BOOTSTRAP ") }
        bootstrapServers = String(line.dropFirst("BOOTSTRAP ".count))
    }

    public var clientOptions: KafkaClientOptions { KafkaClientOptions(bootstrapServers: bootstrapServers, clientID: "gatehouse-test") }

    /// Creates a topic with a name unique to the caller.
    public func createTopic(_ name: String, partitions: Int = 6) async throws {
        try await command("topic \(name) \(partitions)")
    }

    /// Takes every broker down, or brings them back.
    public func setUp(_ up: Bool) async throws {
        try await command(up ? "up" : "down")
    }

    private func command(_ text: String) async throws {
        let seen = process.output.count
        try process.send(text)
        let answer = try await process.waitForLine(after: seen) { $0.hasPrefix("OK") || $0.hasPrefix("ERROR") }
        guard answer.hasPrefix("OK") else { throw TestSupportError("broker refused '\(text)': \(answer)") }
    }
}
