import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO

/// A service's projection of `tenant.updated`, the same in every service that keeps one: a row
/// per tenant with its host names, whether it is disabled, the tenant as the event carries it
/// (`tenant`, JSON in the event's encoding, from which each service decodes the part it needs),
/// the highest aggregate version seen (so duplicates and replays cannot move it backwards) and
/// the transaction that wrote it, so that the host directory reads only what changed
/// (`WriteWatermark`).
public enum TenantProjection {
    public static let eventType = TenantUpdated.eventType.name

    /// Turns a service's earlier `tenants` table (one column per field it used) into this one,
    /// keeping its rows: those columns carry the event's field names, so each row becomes the
    /// tenant it was projected from, without the fields that service never kept.
    public static func migration(version: Int) -> Migration {
        Migration(
            version: version,
            name: "tenant projection",
            statements: [
                """
                CREATE TABLE {schema}.tenant_projection (
                    id TEXT PRIMARY KEY,
                    version BIGINT NOT NULL,
                    hosts TEXT[] NOT NULL,
                    disabled BOOLEAN NOT NULL,
                    tenant JSONB NOT NULL,
                    \(WriteWatermark.columnDefinition)
                )
                """,
                """
                INSERT INTO {schema}.tenant_projection (id, version, hosts, disabled, tenant)
                SELECT id, version, hosts, disabled, (to_jsonb(t) - 'id' - 'version') || jsonb_build_object('tenant_id', id)
                FROM {schema}.tenants t
                """,
                "DROP TABLE {schema}.tenants",
                "ALTER TABLE {schema}.tenant_projection RENAME TO tenants",
                "CREATE INDEX tenants_written_by ON {schema}.tenants (written_by)",
            ]
        )
    }

    /// Applies one `tenant.updated`.
    public static func apply(_ event: IncomingEvent, schema: SchemaName, on connection: PostgresConnection, logger: Logger) async throws {
        let tenant = try event.decode(TenantUpdated.self).payload
        guard tenant.tenantId == event.header.tenant else { throw DeterministicEventError("tenant.updated names another tenant than its envelope") }
        let json = String(decoding: try EventCodec.encoder().encode(tenant), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO \(schema).tenants AS t (id, version, hosts, disabled, tenant)
            VALUES (\(tenant.tenantId), \(event.header.aggregateVersion), \(tenant.hosts), \(tenant.disabled), \(json)::jsonb)
            ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, hosts = EXCLUDED.hosts, disabled = EXCLUDED.disabled,
                tenant = EXCLUDED.tenant, written_by = EXCLUDED.written_by
            WHERE t.version < EXCLUDED.version
            """,
            logger: logger
        )
    }

    /// The tenants written after `position` (every tenant when it is nil), each decoded as
    /// `View` from its `tenant` JSON and made into the directory's record; a disabled tenant
    /// comes without one.
    public static func changes<View: Decodable, Record: Sendable>(
        since position: String?,
        schema: SchemaName,
        client: PostgresClient,
        logger: Logger,
        decoding view: View.Type,
        record: (_ id: String, View) -> Record
    ) async throws -> DirectoryChanges<Record> {
        let watermark = try await WriteWatermark.current(client: client, logger: logger)
        let since = position.map(WriteWatermark.init(transaction:))
        let rows = try await client.query(
            "SELECT id, hosts, disabled, tenant::text FROM \(schema).tenants t WHERE \(writtenSince: since, alias: "t")",
            logger: logger
        )
        let decoder = EventCodec.decoder()
        var changes: [DirectoryChanges<Record>.Change] = []
        for try await (id, hosts, disabled, tenant) in rows.decode((String, [String], Bool, String).self) {
            let served = disabled ? nil : record(id, try decoder.decode(View.self, from: Data(tenant.utf8)))
            changes.append(DirectoryChanges.Change(id: id, hosts: hosts, record: served))
        }
        return DirectoryChanges(changes: changes, position: watermark.transaction)
    }
}
