import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO

/// The tool host's consumer: keeps its projection of tenants from `tenant.updated` (host names,
/// whether callers log in, whether the tenant is served). Each row keeps the highest aggregate
/// version seen, so duplicates and replays cannot move it backwards.
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

    package func handles(_ header: EventHeader) -> Bool { header.type == TenantUpdated.eventType.name }

    package func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
        let tenant = try event.decode(TenantUpdated.self).payload
        guard tenant.tenantId == event.header.tenant else { throw DeterministicEventError("tenant.updated names another tenant than its envelope") }
        let mcp = try tenant.mcp.map { String(decoding: try EventCodec.encoder().encode($0), as: UTF8.self) }
        try await connection.query(
            """
            INSERT INTO \(schema).tenants AS t (id, version, display_name, hosts, auth_mode, disabled, mcp)
            VALUES (\(tenant.tenantId), \(event.header.aggregateVersion), \(tenant.displayName), \(tenant.hosts), \(tenant.authMode),
                \(tenant.disabled), \(mcp)::jsonb)
            ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, display_name = EXCLUDED.display_name, hosts = EXCLUDED.hosts,
                auth_mode = EXCLUDED.auth_mode, disabled = EXCLUDED.disabled, mcp = EXCLUDED.mcp
            WHERE t.version < EXCLUDED.version
            """,
            logger: logger
        )
    }
}
