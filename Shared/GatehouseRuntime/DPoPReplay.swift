import Foundation
import GatehousePostgres
import Logging
import PostgresNIO

/// The DPoP proofs a service has accepted, by key and `jti`, each kept until it leaves the
/// accepted window (RFC 9449 §11.1): a proof replayed to any instance finds its row. Concurrent
/// records share one statement (`Batcher`): on `/mcp` every request with a bound token records
/// its proof, and one round trip per request would cost more than the rest of it.
public struct DPoPReplay: Sendable {
    /// What a service's migration creates (in its own schema).
    public static let tableDefinition = [
        """
        CREATE TABLE {schema}.dpop_proofs (
            jkt TEXT NOT NULL,
            jti TEXT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (jkt, jti)
        )
        """,
        "CREATE INDEX dpop_proofs_expiry ON {schema}.dpop_proofs (expires_at)",
    ]

    struct Entry: Sendable {
        var thumbprint: String
        var jti: String
        var expiresAt: Date
        var key: String { thumbprint + " " + jti }
    }

    private let batcher: Batcher<Entry, Bool>

    public init(schema: SchemaName, client: PostgresClient, logger: Logger) {
        // `.separate`: the same proof twice in one batch must not both be new.
        batcher = Batcher(duplicates: .separate, pipeline: 2) { entries in
            try await Self.insert(entries, schema: schema, client: client, logger: logger)
        }
    }

    /// Records a proof's key and `jti` until `expiresAt`: false when they were recorded before,
    /// by any instance.
    public func record(thumbprint: String, jti: String, expiresAt: Date) async throws -> Bool {
        let entry = Entry(thumbprint: thumbprint, jti: jti, expiresAt: expiresAt)
        return try await batcher.submit(entry, key: entry.key) ?? false
    }

    /// One statement for a batch: the new rows (those already there are replays), and proofs
    /// out of their window swept.
    private static func insert(_ entries: [Entry], schema: SchemaName, client: PostgresClient, logger: Logger) async throws -> [String: Bool] {
        let rows = try await client.query(
            """
            WITH swept AS (
                DELETE FROM \(schema).dpop_proofs WHERE expires_at < now() - interval '1 minute'
            )
            INSERT INTO \(schema).dpop_proofs (jkt, jti, expires_at)
            SELECT * FROM unnest(\(entries.map(\.thumbprint))::text[], \(entries.map(\.jti))::text[], \(entries.map(\.expiresAt))::timestamptz[])
            ON CONFLICT DO NOTHING
            RETURNING jkt, jti
            """,
            logger: logger
        )
        var recorded: [String: Bool] = [:]
        for entry in entries { recorded[entry.key] = false }
        for try await (thumbprint, jti) in rows.decode((String, String).self) { recorded[thumbprint + " " + jti] = true }
        return recorded
    }
}
