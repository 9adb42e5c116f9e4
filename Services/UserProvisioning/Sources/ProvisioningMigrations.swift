import GatehouseMessaging
import GatehousePostgres

/// The provisioning schema. No table references another service's rows, and nothing in another
/// service references these (docs/design.md invariant 2): users are keyed by the id every service
/// derives from the upstream identity.
///
/// Every column is a pure function of the set of events applied, whatever their order:
/// attributes come from the event with the highest `(version, source_event_id)`, times are
/// `LEAST`/`GREATEST` of the events' `occurred_at`, counters are sums of integers (durations in
/// whole microseconds, so a sum does not depend on the order of the terms). That is what makes
/// a replay, or a delivery with duplicates and interleaved partitions, give the same state.
///
/// Rows are updated far more often than inserted (every login, every tool call), so the tables
/// leave 30% of each page free: an update that changes no indexed column then stays on its
/// page (a HOT update) and touches no index.
enum ProvisioningMigrations {
    /// The counters of a usage row (per user and tool, or per tenant and public tool).
    private static let usageCounters = """
        calls BIGINT NOT NULL, successes BIGINT NOT NULL, errors BIGINT NOT NULL, denials BIGINT NOT NULL,
        duration_us BIGINT NOT NULL, first_called_at TIMESTAMPTZ NOT NULL, last_called_at TIMESTAMPTZ NOT NULL,
        """

    static let all: [Migration] = [
        MessagingMigrations.outbox(version: 1),
        MessagingMigrations.inbox(version: 2),
        Migration(
            version: 3,
            name: "users and usage",
            statements: [
                """
                CREATE TABLE {schema}.users (
                    user_id TEXT PRIMARY KEY,
                    tenant TEXT NOT NULL,
                    upstream_issuer TEXT NOT NULL,
                    upstream_subject TEXT NOT NULL,
                    email TEXT,
                    email_verified BOOLEAN NOT NULL,
                    name TEXT,
                    email_linking TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    source_event_id UUID NOT NULL,
                    first_seen_at TIMESTAMPTZ NOT NULL,
                    last_login_at TIMESTAMPTZ NOT NULL,
                    logins BIGINT NOT NULL,
                    UNIQUE (tenant, upstream_issuer, upstream_subject)
                ) WITH (fillfactor = 70)
                """,
                "CREATE INDEX users_tenant_email ON {schema}.users (tenant, lower(email))",
                "CREATE INDEX users_tenant_user ON {schema}.users (tenant, user_id)",
                """
                CREATE TABLE {schema}.email_history (
                    user_id TEXT NOT NULL,
                    email TEXT NOT NULL,
                    first_version BIGINT NOT NULL,
                    last_version BIGINT NOT NULL,
                    first_seen_at TIMESTAMPTZ NOT NULL,
                    last_seen_at TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (user_id, email)
                ) WITH (fillfactor = 70)
                """,
                """
                CREATE TABLE {schema}.tool_usage (
                    user_id TEXT NOT NULL,
                    tool TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    \(usageCounters)
                    PRIMARY KEY (user_id, tool)
                ) WITH (fillfactor = 70)
                """,
                "CREATE INDEX tool_usage_tenant ON {schema}.tool_usage (tenant, user_id)",
                // Calls of public tools (tenants in `none` mode) without a token: per tool only.
                """
                CREATE TABLE {schema}.public_tool_usage (
                    tenant TEXT NOT NULL,
                    tool TEXT NOT NULL,
                    \(usageCounters)
                    PRIMARY KEY (tenant, tool)
                ) WITH (fillfactor = 70)
                """,
                // The person each identity belongs to. Under the `verified_email` policy, identities
                // of a tenant with the same verified email (ignoring case) share the account of the
                // one seen first; otherwise an identity is its own account. Computed when read, from
                // the rows' final state, so it does not depend on the order logins were applied.
                """
                CREATE VIEW {schema}.user_accounts AS
                SELECT u.*,
                    CASE WHEN u.email_linking = 'verified_email' AND u.email_verified AND u.email IS NOT NULL
                        THEN first_value(u.user_id) OVER (
                            PARTITION BY u.tenant, lower(u.email),
                                (u.email_linking = 'verified_email' AND u.email_verified AND u.email IS NOT NULL)
                            ORDER BY u.first_seen_at, u.user_id)
                        ELSE u.user_id
                    END AS account_id
                FROM {schema}.users u
                """,
            ]
        ),
        // Calls of service principals (client credentials tokens: a client, no user), per
        // tenant, client and tool.
        Migration(
            version: 4,
            name: "service principal usage",
            statements: [
                """
                CREATE TABLE {schema}.service_tool_usage (
                    tenant TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    tool TEXT NOT NULL,
                    \(usageCounters)
                    PRIMARY KEY (tenant, client_id, tool)
                ) WITH (fillfactor = 70)
                """
            ]
        ),
    ]
}
