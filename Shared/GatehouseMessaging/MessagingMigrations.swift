import GatehousePostgres

/// The tables of the outbox and the inbox, added to each service's own migrations.
public enum MessagingMigrations {
    /// Number of ordering lanes. A lane is the unit one relay instance locks while it publishes;
    /// every event of an aggregate key falls into the same lane, so per-key order holds across
    /// any number of relay instances.
    public static let laneCount = 16

    public static func outbox(version: Int) -> Migration {
        Migration(
            version: version,
            name: "outbox",
            statements: [
                """
                CREATE TABLE {schema}.outbox (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    event_id UUID NOT NULL UNIQUE,
                    topic TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    aggregate_key TEXT NOT NULL,
                    lane SMALLINT NOT NULL,
                    envelope TEXT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
                    published_at TIMESTAMPTZ
                )
                """,
                "CREATE INDEX outbox_pending ON {schema}.outbox (lane, id) WHERE published_at IS NULL",
                "CREATE INDEX outbox_published ON {schema}.outbox (published_at) WHERE published_at IS NOT NULL",
                "CREATE TABLE {schema}.outbox_lanes (lane SMALLINT PRIMARY KEY)",
                "INSERT INTO {schema}.outbox_lanes SELECT generate_series(0, \(laneCount - 1))",
                """
                CREATE FUNCTION {schema}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    -- The schema's current name, so a schema renamed after a rebuild still wakes its relay.
                    PERFORM pg_notify('gatehouse_outbox_' || TG_TABLE_SCHEMA, '');
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
                FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify()
                """,
            ]
        )
    }

    public static func inbox(version: Int) -> Migration {
        Migration(
            version: version,
            name: "inbox",
            statements: [
                """
                CREATE TABLE {schema}.inbox (
                    consumer TEXT NOT NULL,
                    event_id UUID NOT NULL,
                    event_type TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (consumer, event_id)
                )
                """
            ]
        )
    }

    /// The channel the outbox trigger notifies on commit.
    static func channel(for schema: SchemaName) -> String { "gatehouse_outbox_\(schema.name)" }
}
