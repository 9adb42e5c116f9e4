import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO

/// The topics the provisioning consumer reads and writes (the catalog's, or a test's own).
package struct ProvisioningTopics: Sendable {
    package var gateway: String
    package var tools: String
    package var users: String

    package init(gateway: String = Topics.gateway, tools: String = Topics.tools, users: String = Topics.users) {
        self.gateway = gateway
        self.tools = tools
        self.users = users
    }
}

/// Applies `upstream-token.stored` (users and their email history) and `tool.invoked` (usage)
/// to the provisioning schema, inside the inbox transaction, and announces every profile that
/// changed with `user.upserted` through the outbox of the same transaction.
///
/// This consumer is the only writer of user rows (docs/design.md invariant 2). It is idempotent
/// (the inbox), order-independent (see `ProvisioningMigrations`) and set-based: one statement
/// per table per batch, whatever the batch size.
package struct ProvisioningHandler: EventHandler {
    /// Live consumption announces changed profiles; a replay rebuilds state and publishes
    /// nothing (those events were published when the changes first happened).
    package enum Mode: Sendable { case live, replay }

    package static let defaultConsumerName = "provisioning"

    package let consumerName: String
    package let schema: SchemaName
    package let topicNames: ProvisioningTopics
    package let mode: Mode

    package init(
        schema: SchemaName,
        topics: ProvisioningTopics = ProvisioningTopics(),
        mode: Mode = .live,
        consumerName: String = ProvisioningHandler.defaultConsumerName
    ) {
        self.schema = schema
        self.topicNames = topics
        self.mode = mode
        self.consumerName = consumerName
    }

    package var topics: [String] { [topicNames.gateway, topicNames.tools] }

    package func handles(_ header: EventHeader) -> Bool {
        header.type == UpstreamTokenStored.eventType.name || header.type == ToolInvoked.eventType.name
    }

    package func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
        try await apply([event], on: connection, logger: logger)
    }

    package func apply(_ events: [IncomingEvent], on connection: PostgresConnection, logger: Logger) async throws {
        var batch = ProvisioningBatch()
        for event in events {
            switch event.header.type {
            case UpstreamTokenStored.eventType.name: try batch.add(try event.decode(UpstreamTokenStored.self))
            case ToolInvoked.eventType.name: try batch.add(try event.decode(ToolInvoked.self))
            default: continue
            }
        }
        let store = ProvisioningStore(schema: schema)
        let changed = try await store.upsertUsers(Array(batch.logins.values), on: connection, logger: logger)
        try await store.recordEmails(Array(batch.emails.values), on: connection, logger: logger)
        try await store.recordUsage(batch.userUsage, on: connection, logger: logger)
        try await store.recordPublicUsage(batch.publicUsage, on: connection, logger: logger)
        try await store.recordServiceUsage(batch.serviceUsage, on: connection, logger: logger)

        guard mode == .live, !changed.isEmpty else { return }
        let records = try changed.map { profile in
            let envelope = EventEnvelope(
                // Derived from the login event: announcing the same change twice gives the same id.
                eventId: UUID.derived(namespace: UserUpserted.eventType.name, name: profile.sourceEventId.uuidString.lowercased()),
                occurredAt: profile.occurredAt,
                tenant: profile.tenant,
                aggregateKey: profile.userId,
                aggregateVersion: profile.version,
                payload: UserUpserted(
                    userId: profile.userId,
                    upstreamIssuer: profile.upstreamIssuer,
                    upstreamSubject: profile.upstreamSubject,
                    email: profile.email,
                    emailVerified: profile.emailVerified,
                    name: profile.name,
                    firstSeenAt: profile.firstSeenAt
                )
            )
            return OutboxRecord(
                eventId: envelope.eventId,
                topic: topicNames.users,
                eventType: UserUpserted.eventType.name,
                aggregateKey: profile.userId,
                envelope: try EventCodec.encode(envelope)
            )
        }
        try await OutboxWriter(schema: schema).append(records, on: connection, logger: logger)
    }
}
