import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime

/// The token service's schema. Projections of other services' events (tenants, clients, users,
/// the code ledger), written only by its consumer; and its own state: code redemptions, grants
/// with their refresh rotation, and token hashes. No token, code or secret is stored in clear.
enum TokenMigrations {
    static let all: [Migration] = [
        MessagingMigrations.outbox(version: 1),
        MessagingMigrations.inbox(version: 2),
        Migration(
            version: 3,
            name: "projections",
            statements: [
                // From tenant.updated: host names and token policy.
                """
                CREATE TABLE {schema}.tenants (
                    id TEXT PRIMARY KEY,
                    version BIGINT NOT NULL,
                    display_name TEXT NOT NULL,
                    hosts TEXT[] NOT NULL,
                    auth_mode TEXT NOT NULL,
                    disabled BOOLEAN NOT NULL,
                    access_token_seconds INTEGER NOT NULL,
                    refresh_token_seconds INTEGER NOT NULL,
                    fresh_upstream_profile BOOLEAN NOT NULL
                )
                """,
                // From client.registered / client.updated: how each client authenticates.
                """
                CREATE TABLE {schema}.clients (
                    client_id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    token_endpoint_auth_method TEXT NOT NULL,
                    client_secret_hash TEXT,
                    grant_types TEXT[] NOT NULL,
                    disabled BOOLEAN NOT NULL
                )
                """,
                // From user.upserted: the canonical profile (userinfo, introspection).
                """
                CREATE TABLE {schema}.users (
                    user_id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    email TEXT,
                    email_verified BOOLEAN NOT NULL,
                    name TEXT
                )
                """,
                // From code.issued: every code the gateway issued (hash and binding), for the audit.
                """
                CREATE TABLE {schema}.code_ledger (
                    code_hash TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    issued_at TIMESTAMPTZ NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL
                )
                """,
            ]
        ),
        Migration(
            version: 4,
            name: "grants and tokens",
            statements: [
                // One row per presented code: its single use, and failed attempts (a few burn it).
                """
                CREATE TABLE {schema}.code_redemptions (
                    code_hash TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    grant_id TEXT,
                    failures INTEGER NOT NULL DEFAULT 0,
                    expires_at TIMESTAMPTZ NOT NULL,
                    redeemed_at TIMESTAMPTZ
                )
                """,
                // A grant is what one code produced: one refresh family. `refresh_hash` is the live
                // refresh token; `previous_refresh_hash` the one it replaced, accepted again within the
                // grace window until the live one is first used. Revoking the grant revokes every token
                // of it at once (validity always joins the grant).
                """
                CREATE TABLE {schema}.grants (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    scopes TEXT[] NOT NULL,
                    resource TEXT NOT NULL,
                    code_hash TEXT NOT NULL UNIQUE,
                    client_auth_method TEXT NOT NULL,
                    client_secret_hash TEXT,
                    email TEXT,
                    email_verified BOOLEAN NOT NULL,
                    name TEXT,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    revoked_at TIMESTAMPTZ,
                    revoke_reason TEXT,
                    refresh_generation INTEGER NOT NULL DEFAULT 0,
                    refresh_hash TEXT,
                    previous_refresh_hash TEXT,
                    refreshed_at TIMESTAMPTZ,
                    refresh_expires_at TIMESTAMPTZ
                ) WITH (fillfactor = 70)
                """,
                "CREATE INDEX grants_user ON {schema}.grants (tenant_id, user_id)",
                """
                CREATE TABLE {schema}.refresh_tokens (
                    hash TEXT PRIMARY KEY,
                    grant_id TEXT NOT NULL REFERENCES {schema}.grants (id),
                    generation INTEGER NOT NULL,
                    issued_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX refresh_tokens_grant ON {schema}.refresh_tokens (grant_id)",
                """
                CREATE TABLE {schema}.access_tokens (
                    hash TEXT PRIMARY KEY,
                    grant_id TEXT NOT NULL REFERENCES {schema}.grants (id),
                    scopes TEXT[] NOT NULL,
                    issued_at TIMESTAMPTZ NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL,
                    revoked_at TIMESTAMPTZ
                )
                """,
                "CREATE INDEX access_tokens_grant ON {schema}.access_tokens (grant_id)",
            ]
        ),
        // The key ring's key that derived the live refresh token from the previous one (see
        // `RefreshSuccessor`), so that the previous one can yield it again in the grace window.
        Migration(
            version: 5,
            name: "refresh successor key",
            statements: [
                "ALTER TABLE {schema}.grants ADD COLUMN refresh_key_id TEXT"
            ]
        ),
        // From tenant.updated 1.1: how particular clients are treated (NULL: the defaults).
        Migration(
            version: 6,
            name: "client profiles",
            statements: [
                "ALTER TABLE {schema}.tenants ADD COLUMN client_profiles JSONB"
            ]
        ),
        TenantProjection.migration(version: 7),
        // The client credentials grant: a client's scopes and public keys (client.registered
        // 1.1); grants of a service principal, which have no user and no code; and the `jti` of
        // every client assertion until it expires, so that none is accepted twice.
        Migration(
            version: 8,
            name: "client credentials",
            statements: [
                "ALTER TABLE {schema}.clients ADD COLUMN scope TEXT",
                "ALTER TABLE {schema}.clients ADD COLUMN jwks JSONB",
                "ALTER TABLE {schema}.grants ALTER COLUMN user_id DROP NOT NULL",
                "ALTER TABLE {schema}.grants ALTER COLUMN code_hash DROP NOT NULL",
                "ALTER TABLE {schema}.grants ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'authorization_code'",
                """
                ALTER TABLE {schema}.grants ADD CONSTRAINT grants_principal
                    CHECK ((grant_type = 'client_credentials') = (user_id IS NULL AND code_hash IS NULL))
                """,
                """
                CREATE TABLE {schema}.client_assertions (
                    tenant_id TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    jti TEXT NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (tenant_id, client_id, jti)
                )
                """,
                "CREATE INDEX client_assertions_expiry ON {schema}.client_assertions (expires_at)",
            ]
        ),
        // DPoP (RFC 9449): the key a grant's tokens are bound to, and the proofs seen.
        Migration(
            version: 9,
            name: "dpop",
            statements: ["ALTER TABLE {schema}.grants ADD COLUMN dpop_jkt TEXT"] + DPoPReplay.tableDefinition
        ),
    ]
}
