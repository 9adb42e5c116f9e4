import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehousePostgres
import Logging
import PostgresNIO

/// Applies events through the inbox: in one transaction it claims the event ids for this
/// consumer and runs the handler for the ids that were new. A repeated id is skipped, so every
/// event takes effect at most once, however often it is delivered.
public struct InboxProcessor: Sendable {
    public let client: PostgresClient
    public let schema: SchemaName
    public let handler: any EventHandler
    public let logger: Logger

    public init(client: PostgresClient, schema: SchemaName, handler: any EventHandler, logger: Logger) {
        self.client = client
        self.schema = schema
        self.handler = handler
        self.logger = logger
    }

    /// Reads the envelope fields of a consumed message, and decodes the payload of a catalog
    /// event ahead of the transaction (so that the database waits less). A payload that does
    /// not decode is left for the handler, whose decoding fails the same way inside the
    /// transaction and takes the usual deterministic-failure path.
    public static func incoming(_ message: KafkaConsumerMessage) throws -> IncomingEvent {
        let (header, payload) = try EventCodec.headerAndPayload(of: message.value)
        return IncomingEvent(header: header, message: message, payload: payload)
    }

    /// Applies `events` in order in one transaction; returns how many took effect (the rest
    /// were duplicates or types this handler does not want).
    @discardableResult
    public func apply(_ events: [IncomingEvent]) async throws -> Int {
        let wanted = events.filter { handler.handles($0.header) }
        guard !wanted.isEmpty else { return 0 }
        return try await client.withTransaction(logger: logger) { connection in
            var claimed = Set<UUID>()
            let rows = try await connection.query(
                """
                INSERT INTO \(schema).inbox (consumer, event_id, event_type)
                SELECT \(handler.consumerName), e, t
                FROM unnest(\(wanted.map(\.header.eventId))::uuid[], \(wanted.map(\.header.type))::text[]) AS x(e, t)
                ON CONFLICT DO NOTHING
                RETURNING event_id
                """,
                logger: logger
            )
            for try await id in rows.decode(UUID.self) { claimed.insert(id) }
            // Each claimed id once, in delivery order.
            let fresh = wanted.filter { claimed.remove($0.header.eventId) != nil }
            try await handler.apply(fresh, on: connection, logger: logger)
            return fresh.count
        }
    }
}
