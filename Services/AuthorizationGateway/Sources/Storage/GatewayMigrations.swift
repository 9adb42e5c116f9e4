import GatehouseMessaging
import GatehousePostgres

/// The gateway's schema: tenants and their host names, registered clients; outbox and inbox.
enum GatewayMigrations {
    static let all: [Migration] = [
        MessagingMigrations.outbox(version: 1),
        MessagingMigrations.inbox(version: 2),
        Migration(
            version: 3,
            name: "tenants and clients",
            statements: [
                """
                CREATE TABLE {schema}.tenants (
                    id TEXT PRIMARY KEY,
                    display_name TEXT NOT NULL,
                    auth_mode TEXT NOT NULL,
                    email_linking TEXT NOT NULL,
                    upstream JSONB,
                    upstream_client_secret TEXT,
                    disabled BOOLEAN NOT NULL DEFAULT false,
                    version BIGINT NOT NULL DEFAULT 1,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE {schema}.tenant_hosts (
                    host TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX tenant_hosts_tenant ON {schema}.tenant_hosts (tenant_id)",
                """
                CREATE TABLE {schema}.clients (
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id),
                    client_id TEXT PRIMARY KEY,
                    client_name TEXT,
                    application_type TEXT NOT NULL,
                    redirect_uris TEXT[] NOT NULL,
                    grant_types TEXT[] NOT NULL,
                    response_types TEXT[] NOT NULL,
                    token_endpoint_auth_method TEXT NOT NULL,
                    scope TEXT,
                    client_secret_hash TEXT,
                    metadata JSONB NOT NULL,
                    registered_from TEXT,
                    disabled BOOLEAN NOT NULL DEFAULT false,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    last_used_at TIMESTAMPTZ,
                    expires_at TIMESTAMPTZ
                )
                """,
                "CREATE INDEX clients_tenant ON {schema}.clients (tenant_id, created_at)",
                "CREATE INDEX clients_expiry ON {schema}.clients (expires_at) WHERE expires_at IS NOT NULL AND NOT disabled",
            ]
        ),
        Migration(
            version: 4,
            name: "authorization requests and consents",
            statements: [
                """
                CREATE TABLE {schema}.authorization_requests (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id),
                    client_id TEXT NOT NULL,
                    redirect_uri TEXT NOT NULL,
                    scopes TEXT[] NOT NULL,
                    resource TEXT NOT NULL,
                    code_challenge TEXT NOT NULL,
                    client_state TEXT,
                    session_hash TEXT NOT NULL,
                    csrf_hash TEXT NOT NULL,
                    status TEXT NOT NULL,
                    upstream_state_hash TEXT UNIQUE,
                    upstream_verifier TEXT,
                    upstream_nonce TEXT,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    expires_at TIMESTAMPTZ NOT NULL
                )
                """,
                "CREATE INDEX authorization_requests_expiry ON {schema}.authorization_requests (expires_at)",
                // Approvals a browser session (and, after login, a user) gave a client for a redirect URI.
                """
                CREATE TABLE {schema}.consents (
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id),
                    session_hash TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    redirect_uri TEXT NOT NULL,
                    scopes TEXT[] NOT NULL,
                    approved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (tenant_id, session_hash, client_id, redirect_uri)
                )
                """,
            ]
        ),
        Migration(
            version: 5,
            name: "identities and upstream tokens",
            statements: [
                // One row per upstream identity: its login counter is the aggregate version of
                // upstream-token.stored (the provisioning consumer orders logins by it).
                """
                CREATE TABLE {schema}.identities (
                    user_id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id),
                    upstream_issuer TEXT NOT NULL,
                    upstream_subject TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    last_login_at TIMESTAMPTZ NOT NULL,
                    UNIQUE (tenant_id, upstream_issuer, upstream_subject)
                )
                """,
                // The upstream's tokens, sealed with the key ring (the key id is part of the sealed text).
                """
                CREATE TABLE {schema}.upstream_tokens (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL UNIQUE REFERENCES {schema}.identities (user_id),
                    tenant_id TEXT NOT NULL,
                    access_token TEXT NOT NULL,
                    refresh_token TEXT,
                    expires_at TIMESTAMPTZ,
                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
            ]
        ),
        Migration(
            version: 6,
            name: "token policy",
            statements: [
                """
                ALTER TABLE {schema}.tenants ADD COLUMN access_token_seconds INTEGER NOT NULL DEFAULT 3600,
                    ADD COLUMN refresh_token_seconds INTEGER NOT NULL DEFAULT 2592000,
                    ADD COLUMN fresh_upstream_profile BOOLEAN NOT NULL DEFAULT false
                """
            ]
        ),
        // Consent is remembered per browser session and, once a login through a session has
        // said who the user is, per user: their approvals follow them to their other browsers.
        Migration(
            version: 7,
            name: "consents by user",
            statements: [
                """
                CREATE TABLE {schema}.session_users (
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id),
                    session_hash TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    bound_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (tenant_id, session_hash)
                )
                """,
                """
                CREATE TABLE {schema}.user_consents (
                    tenant_id TEXT NOT NULL REFERENCES {schema}.tenants (id),
                    user_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    redirect_uri TEXT NOT NULL,
                    scopes TEXT[] NOT NULL,
                    approved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (tenant_id, user_id, client_id, redirect_uri)
                )
                """,
            ]
        ),
        // How the token service treats particular clients (ClientProfiles; NULL: the defaults).
        Migration(
            version: 8,
            name: "client profiles",
            statements: [
                "ALTER TABLE {schema}.tenants ADD COLUMN client_profiles JSONB"
            ]
        ),
        // What the tenant's /mcp serves (MCPEndpointSettings; NULL: the built-in tools).
        Migration(
            version: 9,
            name: "mcp endpoint",
            statements: [
                "ALTER TABLE {schema}.tenants ADD COLUMN mcp JSONB"
            ]
        ),
        // The transaction that last wrote each tenant, so the host directory reads only the
        // tenants changed since it last looked (WriteWatermark).
        Migration(
            version: 10,
            name: "tenant write watermark",
            statements: [
                "ALTER TABLE {schema}.tenants ADD COLUMN \(WriteWatermark.columnDefinition)",
                "CREATE INDEX tenants_written_by ON {schema}.tenants (written_by)",
            ]
        ),
        // The grants a tenant offers beyond authorization code and refresh (TenantGrants; NULL:
        // none), and clients the operator registered for them, with their public keys.
        Migration(
            version: 11,
            name: "tenant grants and operator clients",
            statements: [
                "ALTER TABLE {schema}.tenants ADD COLUMN grants JSONB",
                "ALTER TABLE {schema}.clients ADD COLUMN jwks JSONB",
                "ALTER TABLE {schema}.clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT 'dynamic'",
            ]
        ),
    ]
}
