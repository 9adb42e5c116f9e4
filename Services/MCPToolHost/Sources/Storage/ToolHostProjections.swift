import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// The tool host's consumer: keeps its projection of tenants from `tenant.updated`
/// (`TenantProjection`; the tool host reads their names, whether callers log in and what their
/// `/mcp` serves).
package struct ToolHostProjections: EventHandler {
    package static let defaultConsumerName = "tool-host"

    package let consumerName: String
    package let schema: SchemaName
    package let topics: [String]

    package init(schema: SchemaName, consumerName: String = ToolHostProjections.defaultConsumerName) {
        self.schema = schema
        self.topics = [Topics.gateway]
        self.consumerName = consumerName
    }

    package func handles(_ header: EventHeader) -> Bool { header.type == TenantProjection.eventType }

    package func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
        try await TenantProjection.apply(event, schema: schema, on: connection, logger: logger)
    }
}
