import Foundation
import GatehouseEvents
import GatehousePostgres
import Logging
import PostgresNIO

/// The provisioning consumer's writes: one set-based statement per table for a whole batch.
struct ProvisioningStore: Sendable {
    let schema: SchemaName

    /// Upserts the batch's users. Returns the profiles that are now the users' current ones
    /// (the batch's event won over what was stored): those are announced with `user.upserted`.
    func upsertUsers(
        _ logins: [ProvisioningBatch.Login],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [ProvisioningBatch.Login] {
        guard !logins.isEmpty else { return [] }
        var bindings = PostgresBindings()
        bindings.append(logins.map(\.userId))
        bindings.append(logins.map(\.tenant))
        bindings.append(logins.map(\.upstreamIssuer))
        bindings.append(logins.map(\.upstreamSubject))
        bindings.append(logins.map { $0.email ?? "" })
        bindings.append(logins.map(\.emailVerified))
        bindings.append(logins.map { $0.name ?? "" })
        bindings.append(logins.map(\.emailLinking.rawValue))
        bindings.append(logins.map(\.version))
        bindings.append(logins.map(\.sourceEventId))
        bindings.append(logins.map(\.firstSeenAt))
        bindings.append(logins.map(\.lastLoginAt))
        bindings.append(logins.map(\.logins))
        let table = "\(schema.quoted).users"
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(table) AS u (user_id, tenant, upstream_issuer, upstream_subject, email, email_verified, name,
                                               email_linking, version, source_event_id, first_seen_at, last_login_at, logins)
                    SELECT i, t, iss, sub, NULLIF(e, ''), v, NULLIF(n, ''), l, ver, src, fs, ll, c
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[],
                                $9::int8[], $10::uuid[], $11::timestamptz[], $12::timestamptz[], $13::int8[])
                        AS x(i, t, iss, sub, e, v, n, l, ver, src, fs, ll, c)
                    ON CONFLICT (user_id) DO UPDATE SET
                        email = CASE WHEN (EXCLUDED.version, EXCLUDED.source_event_id::text) > (u.version, u.source_event_id::text)
                                     THEN EXCLUDED.email ELSE u.email END,
                        email_verified = CASE WHEN (EXCLUDED.version, EXCLUDED.source_event_id::text) > (u.version, u.source_event_id::text)
                                              THEN EXCLUDED.email_verified ELSE u.email_verified END,
                        name = CASE WHEN (EXCLUDED.version, EXCLUDED.source_event_id::text) > (u.version, u.source_event_id::text)
                                    THEN EXCLUDED.name ELSE u.name END,
                        email_linking = CASE WHEN (EXCLUDED.version, EXCLUDED.source_event_id::text) > (u.version, u.source_event_id::text)
                                             THEN EXCLUDED.email_linking ELSE u.email_linking END,
                        source_event_id = CASE WHEN (EXCLUDED.version, EXCLUDED.source_event_id::text) > (u.version, u.source_event_id::text)
                                               THEN EXCLUDED.source_event_id ELSE u.source_event_id END,
                        version = GREATEST(u.version, EXCLUDED.version),
                        first_seen_at = LEAST(u.first_seen_at, EXCLUDED.first_seen_at),
                        last_login_at = GREATEST(u.last_login_at, EXCLUDED.last_login_at),
                        logins = u.logins + EXCLUDED.logins
                    RETURNING user_id, source_event_id, first_seen_at
                    """,
                binds: bindings
            ),
            logger: logger
        )
        var byUser = Dictionary(uniqueKeysWithValues: logins.map { ($0.userId, $0) })
        var changed: [ProvisioningBatch.Login] = []
        for try await (userId, sourceEventId, firstSeenAt) in rows.decode((String, UUID, Date).self) {
            // The stored profile is now this batch's event: it won, so it is news.
            guard var login = byUser.removeValue(forKey: userId), login.sourceEventId == sourceEventId else { continue }
            login.firstSeenAt = firstSeenAt
            changed.append(login)
        }
        return changed.sorted { $0.userId < $1.userId }
    }

    func recordEmails(_ sightings: [ProvisioningBatch.EmailSighting], on connection: PostgresConnection, logger: Logger) async throws {
        guard !sightings.isEmpty else { return }
        var bindings = PostgresBindings()
        bindings.append(sightings.map(\.userId))
        bindings.append(sightings.map(\.email))
        bindings.append(sightings.map(\.firstVersion))
        bindings.append(sightings.map(\.lastVersion))
        bindings.append(sightings.map(\.firstSeenAt))
        bindings.append(sightings.map(\.lastSeenAt))
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(schema.quoted).email_history AS h (user_id, email, first_version, last_version, first_seen_at, last_seen_at)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::timestamptz[], $6::timestamptz[])
                    ON CONFLICT (user_id, email) DO UPDATE SET
                        first_version = LEAST(h.first_version, EXCLUDED.first_version),
                        last_version = GREATEST(h.last_version, EXCLUDED.last_version),
                        first_seen_at = LEAST(h.first_seen_at, EXCLUDED.first_seen_at),
                        last_seen_at = GREATEST(h.last_seen_at, EXCLUDED.last_seen_at)
                    """,
                binds: bindings
            ),
            logger: logger
        )
    }

    func recordUsage(_ usage: [ProvisioningBatch.Usage], on connection: PostgresConnection, logger: Logger) async throws {
        guard !usage.isEmpty else { return }
        var bindings = Self.counterBindings(usage)
        bindings.append(usage.map { $0.userId ?? "" })
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(schema.quoted).tool_usage AS t (tenant, tool, calls, successes, errors, denials, duration_us,
                                                                  first_called_at, last_called_at, user_id)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                                         $8::timestamptz[], $9::timestamptz[], $10::text[])
                    ON CONFLICT (user_id, tool) DO UPDATE SET \(Self.counterUpdates("t"))
                    """,
                binds: bindings
            ),
            logger: logger
        )
    }

    func recordPublicUsage(_ usage: [ProvisioningBatch.Usage], on connection: PostgresConnection, logger: Logger) async throws {
        guard !usage.isEmpty else { return }
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(schema.quoted).public_tool_usage AS t (tenant, tool, calls, successes, errors, denials, duration_us,
                                                                         first_called_at, last_called_at)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                                         $8::timestamptz[], $9::timestamptz[])
                    ON CONFLICT (tenant, tool) DO UPDATE SET \(Self.counterUpdates("t"))
                    """,
                binds: Self.counterBindings(usage)
            ),
            logger: logger
        )
    }

    private static func counterBindings(_ usage: [ProvisioningBatch.Usage]) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(usage.map(\.tenant))
        bindings.append(usage.map(\.tool))
        bindings.append(usage.map(\.calls))
        bindings.append(usage.map(\.successes))
        bindings.append(usage.map(\.errors))
        bindings.append(usage.map(\.denials))
        bindings.append(usage.map(\.durationMicroseconds))
        bindings.append(usage.map(\.firstCalledAt))
        bindings.append(usage.map(\.lastCalledAt))
        return bindings
    }

    private static func counterUpdates(_ alias: String) -> String {
        """
        calls = \(alias).calls + EXCLUDED.calls, successes = \(alias).successes + EXCLUDED.successes,
        errors = \(alias).errors + EXCLUDED.errors, denials = \(alias).denials + EXCLUDED.denials,
        duration_us = \(alias).duration_us + EXCLUDED.duration_us,
        first_called_at = LEAST(\(alias).first_called_at, EXCLUDED.first_called_at),
        last_called_at = GREATEST(\(alias).last_called_at, EXCLUDED.last_called_at)
        """
    }
}
