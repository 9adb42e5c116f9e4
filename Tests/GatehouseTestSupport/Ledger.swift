import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO

/// A deliberately small event-sourced domain that exercises the backbone end to end: accounts
/// whose balance changes are announced through the outbox, and a projection that applies them
/// through the inbox. Each event carries the new balance and the account's version, so the
/// projection is version-guarded; `applied_count` counts applications, so applying an event
/// twice would show.
public enum Ledger {
    /// The event every deposit announces.
    public struct Deposited: EventPayload {
        public static let eventType = EventType(name: "ledger.deposited", topic: "gatehouse.ledger")
        public static let schemaVersion = SchemaVersion(1, 0)
        public var amount: Int64
        public var balance: Int64

        public init(amount: Int64, balance: Int64) {
            self.amount = amount
            self.balance = balance
        }
    }

    public static let sourceMigrations = [
        Migration(
            version: 1,
            name: "accounts",
            statements: [
                "CREATE TABLE {schema}.accounts (key TEXT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)"
            ]
        ),
        MessagingMigrations.outbox(version: 2),
    ]

    public static let projectionMigrations = [
        Migration(
            version: 1,
            name: "account_view",
            statements: [
                """
                CREATE TABLE {schema}.account_view (
                    key TEXT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL, applied_count BIGINT NOT NULL
                )
                """
            ]
        ),
        MessagingMigrations.inbox(version: 2),
    ]

    /// Applies deposits in one transaction: each locks its account row, then appends its event.
    public static func deposit(
        _ changes: [(key: String, amount: Int64)],
        schema: SchemaName,
        topic: String,
        client: PostgresClient,
        logger: Logger
    ) async throws {
        try await client.withTransaction(logger: logger) { connection in
            var records: [OutboxRecord] = []
            for change in changes {
                let rows = try await connection.query(
                    """
                    INSERT INTO \(schema).accounts (key, balance, version) VALUES (\(change.key), \(change.amount), 1)
                    ON CONFLICT (key) DO UPDATE SET balance = accounts.balance + EXCLUDED.balance, version = accounts.version + 1
                    RETURNING balance, version
                    """,
                    logger: logger
                )
                var state: (Int64, Int64) = (0, 0)
                for try await row in rows.decode((Int64, Int64).self) { state = row }
                let envelope = EventEnvelope(
                    tenant: "ledger.test",
                    aggregateKey: change.key,
                    aggregateVersion: state.1,
                    payload: Deposited(amount: change.amount, balance: state.0)
                )
                records.append(
                    OutboxRecord(
                        eventId: envelope.eventId,
                        topic: topic,
                        eventType: Deposited.eventType.name,
                        aggregateKey: change.key,
                        envelope: try EventCodec.encode(envelope)
                    )
                )
            }
            try await OutboxWriter(schema: schema).append(records, on: connection, logger: logger)
        }
    }

    /// The projection: applies `ledger.deposited` events into `account_view`.
    public struct Projection: EventHandler {
        public let consumerName: String
        public let topics: [String]
        public let schema: SchemaName

        public init(consumerName: String, topics: [String], schema: SchemaName) {
            self.consumerName = consumerName
            self.topics = topics
            self.schema = schema
        }

        public func handles(_ header: EventHeader) -> Bool { header.type == Deposited.eventType.name }

        public func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
            let envelope = try event.decode(Deposited.self)
            try await connection.query(
                """
                INSERT INTO \(schema).account_view (key, balance, version, applied_count)
                VALUES (\(envelope.header.aggregateKey), \(envelope.payload.balance), \(envelope.header.aggregateVersion), 1)
                ON CONFLICT (key) DO UPDATE SET
                    balance = CASE WHEN EXCLUDED.version > account_view.version THEN EXCLUDED.balance ELSE account_view.balance END,
                    version = GREATEST(account_view.version, EXCLUDED.version),
                    applied_count = account_view.applied_count + 1
                """,
                logger: logger
            )
        }

        /// The same effect as applying the events one by one, in one statement: per account the
        /// state of the highest version and the number of events.
        public func apply(_ events: [IncomingEvent], on connection: PostgresConnection, logger: Logger) async throws {
            var latest: [String: (balance: Int64, version: Int64, count: Int64)] = [:]
            for event in events {
                let envelope = try event.decode(Deposited.self)
                let key = envelope.header.aggregateKey
                let previous = latest[key]
                if let previous, previous.version >= envelope.header.aggregateVersion {
                    latest[key] = (previous.balance, previous.version, previous.count + 1)
                } else {
                    latest[key] = (envelope.payload.balance, envelope.header.aggregateVersion, (previous?.count ?? 0) + 1)
                }
            }
            guard !latest.isEmpty else { return }
            let keys = Array(latest.keys)
            try await connection.query(
                """
                INSERT INTO \(schema).account_view AS v (key, balance, version, applied_count)
                SELECT * FROM unnest(\(keys)::text[], \(keys.map { latest[$0]!.balance })::bigint[],
                    \(keys.map { latest[$0]!.version })::bigint[], \(keys.map { latest[$0]!.count })::bigint[])
                ON CONFLICT (key) DO UPDATE SET
                    balance = CASE WHEN EXCLUDED.version > v.version THEN EXCLUDED.balance ELSE v.balance END,
                    version = GREATEST(v.version, EXCLUDED.version),
                    applied_count = v.applied_count + EXCLUDED.applied_count
                """,
                logger: logger
            )
        }
    }

    /// The projection as canonical text: one `key balance version applied_count` line per
    /// account, sorted by key.
    public static func dump(schema: SchemaName, client: PostgresClient) async throws -> String {
        let rows = try await client.query(
            "SELECT key, balance, version, applied_count FROM \(schema).account_view ORDER BY key COLLATE \"C\""
        )
        var lines: [String] = []
        for try await (key, balance, version, count) in rows.decode((String, Int64, Int64, Int64).self) {
            lines.append("\(key) \(balance) \(version) \(count)")
        }
        return lines.joined(separator: "\n")
    }

    /// Number of outbox rows not yet published.
    public static func unpublished(schema: SchemaName, client: PostgresClient) async throws -> Int {
        let rows = try await client.query("SELECT count(*) FROM \(schema).outbox WHERE published_at IS NULL")
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}
