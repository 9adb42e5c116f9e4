import Foundation
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO

/// Rebuilds the provisioning state from the topics, from offset 0, into a schema of its own.
/// The replay goes through the same inbox and handler as live consumption, in `.replay` mode:
/// it publishes nothing.
package struct ProvisioningReplay: Sendable {
    package struct NotEmpty: Error, CustomStringConvertible {
        package var schema: SchemaName
        package var description: String { "schema \(schema) already holds provisioning state; replay into an empty schema (or pass --resume)" }
    }

    package let client: PostgresClient
    package let schema: SchemaName
    package let kafka: KafkaClientOptions
    package let topics: ProvisioningTopics
    package let logger: Logger
    package var batchSize = 2000

    package init(
        client: PostgresClient,
        schema: SchemaName,
        kafka: KafkaClientOptions,
        topics: ProvisioningTopics = ProvisioningTopics(),
        logger: Logger
    ) {
        self.client = client
        self.schema = schema
        self.kafka = kafka
        self.topics = topics
        self.logger = logger
    }

    /// Migrates `schema`, refuses it if it holds state (unless `resume`: the inbox then skips
    /// what an earlier, interrupted replay applied), and replays every event up to the end the
    /// topics have now.
    package func run(resume: Bool = false, progress: @Sendable (EventReplayer.Progress) -> Void = { _ in }) async throws -> EventReplayer.Result {
        try await Migrator(schema: schema, migrations: ProvisioningMigrations.all).migrate(client: client, logger: logger)
        if !resume, try await rowCount() > 0 { throw NotEmpty(schema: schema) }
        let handler = ProvisioningHandler(schema: schema, topics: topics, mode: .replay)
        var replayer = EventReplayer(
            processor: InboxProcessor(client: client, schema: schema, handler: handler, logger: logger),
            kafka: kafka,
            logger: logger
        )
        replayer.batchSize = batchSize
        return try await replayer.replay(progress: progress)
    }

    private func rowCount() async throws -> Int64 {
        let s = schema
        let rows = try await client.query(
            """
            SELECT (SELECT count(*) FROM \(s).inbox) + (SELECT count(*) FROM \(s).users)
                 + (SELECT count(*) FROM \(s).tool_usage) + (SELECT count(*) FROM \(s).public_tool_usage)
                 + (SELECT count(*) FROM \(s).service_tool_usage)
            """,
            logger: logger
        )
        var count: Int64 = 0
        for try await value in rows.decode(Int64.self) { count = value }
        return count
    }
}
