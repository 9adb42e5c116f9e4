import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime

/// The tool host's schema: its projection of tenants (from `tenant.updated`) and the support
/// requests its tools file. Nothing here names another service's rows: a support request
/// carries the user id from the caller's token, which is known without the user's row.
enum ToolHostMigrations {
    static let all: [Migration] = [
        MessagingMigrations.outbox(version: 1),
        MessagingMigrations.inbox(version: 2),
        Migration(
            version: 3,
            name: "tenants",
            statements: [
                """
                CREATE TABLE {schema}.tenants (
                    id TEXT PRIMARY KEY,
                    version BIGINT NOT NULL,
                    display_name TEXT NOT NULL,
                    hosts TEXT[] NOT NULL,
                    auth_mode TEXT NOT NULL,
                    disabled BOOLEAN NOT NULL
                )
                """
            ]
        ),
        Migration(
            version: 4,
            name: "support requests",
            statements: [
                """
                CREATE TABLE {schema}.support_requests (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    email TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    message TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open',
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX support_requests_by_user ON {schema}.support_requests (tenant_id, user_id, created_at DESC)",
            ]
        ),
        // What the tenant's /mcp serves (MCPEndpointSettings from tenant.updated 1.2; NULL: hosted).
        Migration(
            version: 5,
            name: "mcp endpoint",
            statements: [
                "ALTER TABLE {schema}.tenants ADD COLUMN mcp JSONB"
            ]
        ),
        TenantProjection.migration(version: 6),
        // DPoP (RFC 9449): the proofs accepted at /mcp, so that none is accepted twice.
        Migration(version: 7, name: "dpop proofs", statements: DPoPReplay.tableDefinition),
    ]
}
