import ArgumentParser
import Foundation
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO
import ServiceLifecycle
import UnixSignals

/// Runs an outbox relay as its own process so that tests can kill it with SIGKILL at exact
/// points: `--pause-at after-fetch` (rows locked, nothing sent) or `after-publish` (sent and
/// acknowledged, not yet marked). At that point it prints `PAUSED <point>` and waits.
@main
struct BackboneProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse-backbone-probe",
        abstract: "Test helper: runs an outbox relay process (configured from GATEHOUSE_* variables)."
    )

    @Option(help: "The schema whose outbox to publish.")
    var schema: String

    @Option(help: "Stop at this point of the first pass: after-fetch or after-publish.")
    var pauseAt: String?

    func run() async throws {
        let configuration = try RuntimeConfiguration(serviceName: "probe", defaultPort: 0, environment: ProcessInfo.processInfo.environment)
        var logger = Logger(label: "gatehouse.probe")
        logger.logLevel = .warning
        let schemaName = try SchemaName(schema)
        let pausePoint = try pauseAt.map { text in
            guard let point = OutboxRelay.FaultPoint(rawValue: text) else { throw ValidationError("unknown pause point \(text)") }
            return point
        }
        let postgres = PostgresClient(configuration: configuration.postgres.clientConfiguration, backgroundLogger: logger)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: configuration.kafka), logger: logger)
        let relay = OutboxRelay(
            client: postgres,
            settings: configuration.postgres,
            schema: schemaName,
            producer: producer,
            logger: logger,
            faultHook: { point in
                guard point == pausePoint else { return }
                FileHandle.standardOutput.write(Data("PAUSED \(point.rawValue)\n".utf8))
                while true { try? await Task.sleep(for: .seconds(3600)) }
            }
        )
        FileHandle.standardOutput.write(Data("RELAY STARTED\n".utf8))
        let group = ServiceGroup(
            configuration: .init(
                services: [postgres, producer, relay],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
