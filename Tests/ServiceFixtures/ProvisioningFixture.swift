import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import PostgresNIO
import UserProvisioning

/// A database with the provisioning schema, topics of its own on the shared broker, and helpers
/// to feed events through the real consumer or straight into the inbox.
package struct ProvisioningFixture: Sendable {
    package let broker: TestBroker
    package let settings: PostgresSettings
    package let client: PostgresClient
    package let logger: Logger
    package let topics: ProvisioningTopics
    package let deadLetterTopic: String
    package let consumerName: String
    package let schema = try! SchemaName("provisioning")

    package init(postgres: TestPostgres? = nil) async throws {
        let (shared, broker) = try await TestEnvironment.shared.postgresAndBroker()
        self.broker = broker
        // A cluster of the test's own is one it stops: the larger pool (see `makeDatabase`).
        self.settings = try await (postgres ?? shared).makeDatabase(named: "provisioning", maximumConnections: postgres == nil ? 10 : 20)
        self.logger = testLogger()
        self.client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        self.topics = ProvisioningTopics(gateway: "gateway-\(suffix)", tools: "tools-\(suffix)", users: "users-\(suffix)")
        self.deadLetterTopic = "dead-letter-\(suffix)"
        self.consumerName = "provisioning-\(suffix)"
        for topic in [topics.gateway, topics.tools, topics.users] { try await broker.createTopic(topic) }
        try await broker.createTopic(deadLetterTopic, partitions: 1)
    }

    /// Creates a fixture, migrates the live schema and keeps the client running while `body` runs.
    package static func run<T: Sendable>(postgres: TestPostgres? = nil, _ body: (ProvisioningFixture) async throws -> T) async throws -> T {
        let fixture = try await ProvisioningFixture(postgres: postgres)
        return try await fixture.client.whileRunning {
            try await fixture.migrate(fixture.schema)
            return try await body(fixture)
        }
    }

    package func migrate(_ schema: SchemaName, client: PostgresClient? = nil) async throws {
        try await Migrator(schema: schema, migrations: ProvisioningService.definition.migrations)
            .migrate(client: client ?? self.client, logger: logger)
    }

    package func handler(_ schema: SchemaName? = nil, mode: ProvisioningHandler.Mode = .live) -> ProvisioningHandler {
        ProvisioningHandler(schema: schema ?? self.schema, topics: topics, mode: mode, consumerName: consumerName)
    }

    package func processor(_ schema: SchemaName? = nil, mode: ProvisioningHandler.Mode = .live) -> InboxProcessor {
        InboxProcessor(client: client, schema: schema ?? self.schema, handler: handler(schema, mode: mode), logger: logger)
    }

    /// Applies events straight through the inbox, as the consumer would, in one transaction.
    @discardableResult
    package func apply(_ events: [ProvisioningScenario.Event], schema: SchemaName? = nil) async throws -> Int {
        try await processor(schema).apply(try events.map { try Self.incoming($0) })
    }

    package static func incoming(_ event: ProvisioningScenario.Event, partition: Int32 = 0, offset: Int64 = 0) throws -> IncomingEvent {
        let message = KafkaConsumerMessage(
            topicPartition: KafkaTopicPartition(topic: "direct", partition: partition),
            offset: offset,
            key: Array(event.header.aggregateKey.utf8),
            value: try event.encoded()
        )
        return try InboxProcessor.incoming(message)
    }

    package func producer() throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaProducerConfiguration(client: broker.clientOptions), logger: logger)
    }

    /// Produces the events to the fixture's gateway and tools topics (the producer must be running).
    package func publish(_ events: [ProvisioningScenario.Event], with producer: KafkaProducer) async throws {
        let scenario = try events.map { event in
            KafkaOutgoingMessage(
                topic: event.isLogin ? topics.gateway : topics.tools,
                key: Array(event.header.aggregateKey.utf8),
                value: try event.encoded()
            )
        }
        for result in await producer.send(scenario) { _ = try result.get() }
    }

    package func consumer(client: PostgresClient? = nil, deadLetters: KafkaProducer) -> EventConsumer {
        var options = EventConsumer.Options()
        options.deadLetterTopic = deadLetterTopic
        options.maximumBackoff = .milliseconds(500)
        options.initialBackoff = .milliseconds(50)
        return EventConsumer(
            handler: handler(),
            client: client ?? self.client,
            schema: schema,
            kafka: broker.clientOptions,
            deadLetters: deadLetters,
            options: options,
            logger: logger
        )
    }

    package func relay(producer: KafkaProducer) -> OutboxRelay {
        OutboxRelay(client: client, settings: settings, schema: schema, producer: producer, logger: logger)
    }

    package func dump(_ schema: SchemaName? = nil, client: PostgresClient? = nil) async throws -> [String] {
        try await UserDirectory(client: client ?? self.client, schema: schema ?? self.schema, logger: logger).canonicalDump()
    }

    package func count(_ table: String, schema: SchemaName? = nil, client: PostgresClient? = nil) async throws -> Int64 {
        try await (client ?? self.client).rowCount(of: table, in: schema ?? self.schema)
    }

    package func replay(into schema: SchemaName, resume: Bool = false) async throws -> EventReplayer.Result {
        try await ProvisioningReplay(client: client, schema: schema, kafka: broker.clientOptions, topics: topics, logger: logger)
            .run(resume: resume)
    }
}

/// Hand-made events for the rule-by-rule tests.
package enum ProvisioningEvents {
    package static let issuer = "https://idp.example"
    package static let start = Date(timeIntervalSince1970: 1_790_000_000)

    package static func userId(_ tenant: String, _ subject: String, issuer: String = issuer) -> String {
        UserID.derive(tenant: tenant, issuer: issuer, subject: subject)
    }

    package static func login(
        tenant: String,
        subject: String,
        version: Int64,
        email: String?,
        verified: Bool = true,
        name: String? = nil,
        at seconds: Double,
        linking: EmailLinkingPolicy? = nil,
        issuer: String = issuer,
        eventId: UUID = UUID()
    ) -> ProvisioningScenario.Event {
        let id = userId(tenant, subject, issuer: issuer)
        return .login(
            EventEnvelope(
                eventId: eventId,
                occurredAt: start.addingTimeInterval(seconds),
                tenant: tenant,
                aggregateKey: id,
                aggregateVersion: version,
                payload: UpstreamTokenStored(
                    userId: id,
                    upstreamIssuer: issuer,
                    upstreamSubject: subject,
                    email: email,
                    emailVerified: verified,
                    name: name,
                    upstreamTokenId: "ut-\(UUID())",
                    emailLinking: linking
                )
            )
        )
    }

    package static func toolCall(
        tenant: String,
        userId: String?,
        tool: String = "get_support",
        outcome: ToolInvoked.Outcome = .success,
        durationMs: Double = 10,
        at seconds: Double,
        clientId: String? = "mcp_client_test"
    ) -> ProvisioningScenario.Event {
        .toolCall(
            EventEnvelope(
                occurredAt: start.addingTimeInterval(seconds),
                tenant: tenant,
                aggregateKey: userId ?? tool,
                aggregateVersion: 1,
                payload: ToolInvoked(
                    invocationId: UUID().uuidString,
                    userId: userId,
                    clientId: userId == nil ? nil : clientId,
                    tool: tool,
                    outcome: outcome,
                    durationMs: durationMs
                )
            )
        )
    }
}
