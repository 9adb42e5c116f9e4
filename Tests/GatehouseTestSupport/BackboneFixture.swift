import Foundation
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO

/// A fresh database with the ledger's source schema and a projection schema, a fresh topic,
/// and the clients to drive them.
public struct BackboneFixture: Sendable {
    public let postgres: TestPostgres
    public let broker: TestBroker
    public let settings: PostgresSettings
    public let client: PostgresClient
    public let source = try! SchemaName("ledger")
    public let topic: String
    public let logger: Logger

    /// `privateBroker`: a broker process of the fixture's own, for a test that takes it down
    /// (the shared one serves suites that run at the same time).
    public init(postgres: TestPostgres? = nil, privateBroker: Bool = false) async throws {
        let (shared, sharedBroker) = try await TestEnvironment.shared.postgresAndBroker()
        self.postgres = postgres ?? shared
        self.broker = privateBroker ? try await TestBroker() : sharedBroker
        self.settings = try await self.postgres.makeDatabase(named: "backbone")
        trace("database \(settings.database)")
        self.logger = testLogger()
        self.client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        self.topic = "ledger-\(UUID().uuidString.prefix(8).lowercased())"
        try await broker.createTopic(topic)
        trace("topic \(topic)")
    }

    /// Creates a fixture and keeps its PostgreSQL client running while `body` runs
    /// (a `PostgresClient` runs once in its life).
    public static func run<T: Sendable>(
        postgres: TestPostgres? = nil,
        privateBroker: Bool = false,
        _ body: (BackboneFixture) async throws -> T
    ) async throws -> T {
        let fixture = try await BackboneFixture(postgres: postgres, privateBroker: privateBroker)
        return try await fixture.client.whileRunning { try await body(fixture) }
    }

    /// Applies the source and projection migrations (the client must be running).
    public func migrate(projections: [SchemaName]) async throws {
        try await Migrator(schema: source, migrations: Ledger.sourceMigrations).migrate(client: client, logger: logger)
        for schema in projections {
            try await Migrator(schema: schema, migrations: Ledger.projectionMigrations).migrate(client: client, logger: logger)
        }
    }

    public func producer(messageTimeout: Duration = .seconds(30)) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(client: broker.clientOptions)
        configuration.messageTimeout = messageTimeout
        return try KafkaProducer(configuration: configuration, logger: logger)
    }

    public func relay(producer: KafkaProducer, options: OutboxRelay.Options = .init()) -> OutboxRelay {
        OutboxRelay(client: client, settings: settings, schema: source, producer: producer, options: options, logger: logger)
    }

    public func projection(_ schema: SchemaName, group: String? = nil, topic: String? = nil) -> Ledger.Projection {
        Ledger.Projection(
            consumerName: group ?? "ledger-view-\(UUID().uuidString.prefix(8).lowercased())",
            topics: [topic ?? self.topic],
            schema: schema
        )
    }

    public func consumer(
        _ projection: Ledger.Projection,
        schema: SchemaName,
        client: PostgresClient? = nil,
        deadLetters: KafkaProducer,
        options: EventConsumer.Options = .init()
    ) -> EventConsumer {
        EventConsumer(
            handler: projection,
            client: client ?? self.client,
            schema: schema,
            kafka: broker.clientOptions,
            deadLetters: deadLetters,
            options: options,
            logger: logger
        )
    }

    /// Deposits `count` changes spread over `keys` accounts, `perTransaction` at a time.
    public func deposit(count: Int, keys: Int, perTransaction: Int = 10, seed: UInt64 = 1) async throws {
        var random = SeededGenerator(seed: seed)
        var written = 0
        while written < count {
            let size = min(perTransaction, count - written)
            let changes = (0..<size).map { _ in
                (key: "acct-\(Int.random(in: 0..<keys, using: &random))", amount: Int64.random(in: 1...1000, using: &random))
            }
            try await Ledger.deposit(changes, schema: source, topic: topic, client: client, logger: logger)
            written += size
        }
    }

    /// The source accounts as `key balance version` lines: what every projection must converge to.
    public func sourceState() async throws -> [String: (balance: Int64, version: Int64)] {
        var state: [String: (Int64, Int64)] = [:]
        let rows = try await client.query("SELECT key, balance, version FROM \(source).accounts")
        for try await (key, balance, version) in rows.decode((String, Int64, Int64).self) { state[key] = (balance, version) }
        return state
    }

    /// The projection dump every projection must equal when each event applied exactly once.
    public func expectedDump() async throws -> String {
        try await sourceState().sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "\($0.key) \($0.value.balance) \($0.value.version) \($0.value.version)" }
            .joined(separator: "\n")
    }

    public func unpublished() async throws -> Int { try await Ledger.unpublished(schema: source, client: client) }
}
