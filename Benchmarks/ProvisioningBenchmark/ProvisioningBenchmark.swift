import ArgumentParser
import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseTestSupport
import Logging
import PostgresNIO
import UserProvisioning

/// Measures the provisioning replay against the raw insert rate of the same PostgreSQL.
///
/// 1. A seeded corpus (logins and tool calls, `--events` in all) is produced to the broker.
/// 2. Replay: `ProvisioningReplay` rebuilds the state from offset 0 into an empty schema
///    (broker → decode → inbox → set-based upserts, one transaction per batch). Events/s.
/// 3. Raw: the same number of rows, one per event, inserted into a table shaped like `users`
///    (same key, unique constraint and indexes), in batches of the replay's size, one
///    transaction per batch, with one `unnest` statement each. Rows/s.
///
/// The ratio of the two is the consumer's overhead. It starts its own PostgreSQL cluster
/// (fsync on unless `--no-durable`) and broker process.
@main
struct ProvisioningBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gatehouse-provisioning-bench")

    @Option(help: "Events in the corpus.")
    var events = 100_000

    @Option(help: "Events per replay transaction (and rows per raw insert batch).")
    var batchSize = 2000

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = benchmarkLogger()
        let postgres = try TestPostgres(durable: database.durable)
        let broker = try await TestBroker()
        let settings = try await postgres.makeDatabase(named: "provbench")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let topics = ProvisioningTopics(gateway: "bench-gateway", tools: "bench-tools", users: "bench-users")
        // The mock broker keeps about 5 MB per partition and drops older messages beyond that;
        // enough partitions keep the whole corpus.
        let partitions = max(6, events / 4000)
        for topic in [topics.gateway, topics.tools, topics.users] { try await broker.createTopic(topic, partitions: partitions) }

        print(
            "Gatehouse provisioning replay benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores, "
                + "PostgreSQL fsync \(database.fsync), dev broker, batch \(batchSize))"
        )
        var options = ProvisioningScenario.Options()
        options.events = events
        options.tenants = 5
        options.usersPerTenant = max(1, events / 100)
        let scenario = ProvisioningScenario(options)
        let logins = scenario.events.filter(\.isLogin).count
        print("Corpus: \(events) events (\(logins) logins, \(events - logins) tool calls), \(options.tenants * options.usersPerTenant) identities")

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: broker.clientOptions), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { try await producer.run() }
            defer { group.cancelAll() }

            let messages = try scenario.messages(gatewayTopic: topics.gateway, toolsTopic: topics.tools)
            for start in stride(from: 0, to: messages.count, by: 5000) {
                for result in await producer.send(Array(messages[start..<min(start + 5000, messages.count)])) { _ = try result.get() }
            }

            let reader = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(client: broker.clientOptions, groupID: "bench-check"),
                logger: logger
            )
            let ranges = try await reader.currentRanges(of: [topics.gateway, topics.tools])
            try? await reader.close()
            guard ranges.values.allSatisfy({ $0.lowerBound == 0 }), ranges.values.reduce(0, { $0 + $1.count }) == events else {
                throw ValidationError("the broker no longer holds the whole corpus: \(ranges)")
            }

            var replay = ProvisioningReplay(
                client: client,
                schema: try SchemaName("replay_bench"),
                kafka: broker.clientOptions,
                topics: topics,
                logger: logger
            )
            replay.batchSize = batchSize
            let replayStart = ContinuousClock.now
            let result = try await replay.run()
            let replaySeconds = (ContinuousClock.now - replayStart) / .seconds(1)
            guard result.consumed == events, result.skipped == 0 else {
                throw ValidationError("replay consumed \(result.consumed), skipped \(result.skipped) of \(events)")
            }
            let replayRate = Double(events) / replaySeconds
            print(String(format: "Replay: %d events in %.2f s = %.0f events/s (%d applied)", events, replaySeconds, replayRate, result.applied))

            // Decoding alone (envelope and payload, as the replay reads them), for the breakdown.
            let decodeStart = ContinuousClock.now
            for message in messages {
                guard try EventCodec.headerAndPayload(of: message.value).payload != nil else { throw ValidationError("undecodable event") }
            }
            let decodeSeconds = (ContinuousClock.now - decodeStart) / .seconds(1)
            print(String(format: "  of which decoding the events: %.2f s (%.0f events/s)", decodeSeconds, Double(events) / decodeSeconds))

            let rawSeconds = try await rawInserts(client: client, rows: events, logger: logger)
            let rawRate = Double(events) / rawSeconds
            print(String(format: "Raw batched inserts: %d rows in %.2f s = %.0f rows/s", events, rawSeconds, rawRate))
            print(
                String(format: "Ratio replay/raw: %.2f (target >= 0.50: %@)", replayRate / rawRate, replayRate / rawRate >= 0.5 ? "met" : "NOT met")
            )
        }
    }

    /// Inserts `rows` users-shaped rows in batches of `batchSize`, a transaction each; seconds taken.
    private func rawInserts(client: PostgresClient, rows: Int, logger: Logger) async throws -> Double {
        try await client.query(
            """
            CREATE TABLE raw_users (
                user_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, upstream_issuer TEXT NOT NULL, upstream_subject TEXT NOT NULL,
                email TEXT, email_verified BOOLEAN NOT NULL, name TEXT, email_linking TEXT NOT NULL, version BIGINT NOT NULL,
                source_event_id UUID NOT NULL, first_seen_at TIMESTAMPTZ NOT NULL, last_login_at TIMESTAMPTZ NOT NULL,
                logins BIGINT NOT NULL, UNIQUE (tenant, upstream_issuer, upstream_subject))
            """,
            logger: logger
        )
        try await client.query("CREATE INDEX raw_users_tenant_email ON raw_users (tenant, lower(email))", logger: logger)
        try await client.query("CREATE INDEX raw_users_tenant_user ON raw_users (tenant, user_id)", logger: logger)
        let now = Date()
        let start = ContinuousClock.now
        for first in stride(from: 0, to: rows, by: batchSize) {
            let range = first..<min(first + batchSize, rows)
            let ids = range.map { "usr_raw_\($0)" }
            let tenants = range.map { "tenant-\($0 % 5)" }
            let issuers = range.map { _ in "https://idp.example" }
            let subjects = range.map { "sub-\($0)" }
            let emails = range.map { "user\($0)@example.org" }
            let verified = range.map { $0 % 3 != 0 }
            let names = range.map { "User \($0)" }
            let linking = range.map { _ in "none" }
            let ones = range.map { _ in Int64(1) }
            let eventIds = range.map { _ in UUID() }
            let times = range.map { _ in now }
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    """
                    INSERT INTO raw_users SELECT * FROM unnest(\(ids)::text[], \(tenants)::text[], \(issuers)::text[], \(subjects)::text[],
                        \(emails)::text[], \(verified)::bool[], \(names)::text[], \(linking)::text[], \(ones)::int8[], \(eventIds)::uuid[],
                        \(times)::timestamptz[], \(times)::timestamptz[], \(ones)::int8[])
                    """,
                    logger: logger
                )
            }
        }
        return (ContinuousClock.now - start) / .seconds(1)
    }
}
