import Foundation
import GatehouseKafka
import GatehousePostgres
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// Publishes a schema's outbox to Kafka after commit.
///
/// Each pass locks the ordering lanes no other relay holds (`FOR UPDATE SKIP LOCKED`, so any
/// number of relay instances share the work and never publish one key's events out of order),
/// sends their oldest rows in id order, and marks a row published only once the broker has
/// acknowledged it as persisted, in the same transaction that holds the lane locks. A relay
/// that dies mid-pass loses its locks with its connection; its rows are sent again and the
/// consumers' inboxes absorb the duplicates.
///
/// It is woken by `LISTEN` on the channel the outbox trigger notifies at commit, with a slow
/// poll as a safety net.
public final class OutboxRelay: Service, Sendable {
    public struct Options: Sendable {
        public var batchSize = 500
        /// Safety-net poll when no notification arrives.
        public var pollInterval: Duration = .seconds(1)
        /// Pause after a pass that could not publish (broker down).
        public var failureBackoff: Duration = .milliseconds(500)
        /// How long published rows are kept before they are deleted.
        public var retention: Duration = .seconds(3600)
        public init() {}
    }

    /// Points at which tests may stop a relay (to kill it there).
    public enum FaultPoint: String, Sendable {
        case afterFetch = "after-fetch"
        case afterPublish = "after-publish"
    }

    private let client: PostgresClient
    private let settings: PostgresSettings
    private let schema: SchemaName
    private let producer: KafkaProducer
    private let options: Options
    private let logger: Logger
    private let faultHook: (@Sendable (FaultPoint) async -> Void)?
    private let published: Counter
    private let failures: Counter

    public init(
        client: PostgresClient,
        settings: PostgresSettings,
        schema: SchemaName,
        producer: KafkaProducer,
        options: Options = Options(),
        logger: Logger,
        faultHook: (@Sendable (FaultPoint) async -> Void)? = nil
    ) {
        self.client = client
        self.settings = settings
        self.schema = schema
        self.producer = producer
        self.options = options
        self.logger = logger
        self.faultHook = faultHook
        self.published = Counter(label: "gatehouse_outbox_published_total", dimensions: [("schema", schema.name)])
        self.failures = Counter(label: "gatehouse_outbox_publish_failures_total", dimensions: [("schema", schema.name)])
    }

    public func run() async throws {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.listen(wake: wake) }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.options.pollInterval)
                    wake.yield()
                }
            }
            wake.yield()
            await withGracefulShutdownHandler {
                var lastCleanup = ContinuousClock.now
                for await _ in wakeups {
                    await self.drain()
                    if ContinuousClock.now - lastCleanup > .seconds(60) {
                        await self.deletePublished()
                        lastCleanup = .now
                    }
                }
            } onGracefulShutdown: {
                wake.finish()
            }
            group.cancelAll()
        }
        logger.info("Outbox relay stopped", metadata: ["schema": "\(schema)"])
    }

    /// Publishes until the outbox is empty or a pass fails.
    private func drain() async {
        while !Task.isCancelled {
            do {
                let outcome = try await publishPass()
                if outcome.failed > 0 {
                    try? await Task.sleep(for: options.failureBackoff)
                    return
                }
                if outcome.fetched < options.batchSize { return }
            } catch {
                failures.increment()
                logger.warning("Outbox pass failed", metadata: ["schema": "\(schema)", "error": "\(PostgresFailure.describe(error))"])
                try? await Task.sleep(for: options.failureBackoff)
                return
            }
        }
    }

    struct PassOutcome {
        var fetched: Int
        var published: Int
        var failed: Int
    }

    /// One pass: lock lanes, send their oldest rows, mark what the broker persisted.
    func publishPass() async throws -> PassOutcome {
        let schema = self.schema
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH lanes AS (
                    SELECT lane FROM \(schema).outbox_lanes FOR UPDATE SKIP LOCKED
                )
                SELECT id, topic, aggregate_key, envelope FROM \(schema).outbox
                WHERE published_at IS NULL AND lane IN (SELECT lane FROM lanes)
                ORDER BY id
                LIMIT \(options.batchSize)
                """,
                logger: logger
            )
            var pending: [(id: Int64, key: String, message: KafkaOutgoingMessage)] = []
            for try await (id, topic, key, envelope) in rows.decode((Int64, String, String, String).self) {
                pending.append((id, key, KafkaOutgoingMessage(topic: topic, key: Array(key.utf8), value: Array(envelope.utf8))))
            }
            guard !pending.isEmpty else { return PassOutcome(fetched: 0, published: 0, failed: 0) }
            await faultHook?(.afterFetch)

            let reports = await producer.send(pending.map(\.message))
            await faultHook?(.afterPublish)

            // Mark only an unbroken prefix per key: after a failed row, later rows of the same key
            // wait for the next pass so they are not published ahead of it.
            var blockedKeys = Set<String>()
            var delivered: [Int64] = []
            var firstError: KafkaError?
            for (row, report) in zip(pending, reports) {
                switch report {
                case .success(let report) where report.status == .persisted && !blockedKeys.contains(row.key):
                    delivered.append(row.id)
                case .success:
                    blockedKeys.insert(row.key)
                case .failure(let error):
                    blockedKeys.insert(row.key)
                    firstError = firstError ?? error
                }
            }
            if !delivered.isEmpty {
                try await connection.query(
                    "UPDATE \(schema).outbox SET published_at = now() WHERE id = ANY(\(delivered))",
                    logger: logger
                )
            }
            let failed = pending.count - delivered.count
            published.increment(by: delivered.count)
            if failed > 0 {
                failures.increment(by: failed)
                logger.warning(
                    "Outbox rows not acknowledged; they will be sent again",
                    metadata: [
                        "schema": "\(schema)", "rows": "\(failed)", "error": "\(firstError.map(String.init(describing:)) ?? "not persisted")",
                    ]
                )
            }
            return PassOutcome(fetched: pending.count, published: delivered.count, failed: failed)
        }
    }

    private func deletePublished() async {
        do {
            try await client.query(
                """
                DELETE FROM \(schema).outbox
                WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => \(Double(options.retention.components.seconds)))
                """,
                logger: logger
            )
        } catch {
            logger.warning("Outbox clean-up failed", metadata: ["error": "\(PostgresFailure.describe(error))"])
        }
    }

    /// Holds a dedicated connection that LISTENs for commits; reconnects after failures.
    private func listen(wake: AsyncStream<Void>.Continuation) async {
        let channel = MessagingMigrations.channel(for: schema)
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: settings.connectionConfiguration,
                    id: connectionID,
                    logger: logger
                )
                do {
                    try await connection.listen(on: channel) { notifications in
                        wake.yield()  // catch up on anything committed while we were not listening
                        for try await _ in notifications {
                            wake.yield()
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.debug("Outbox listener reconnecting", metadata: ["error": "\(PostgresFailure.describe(error))"])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
