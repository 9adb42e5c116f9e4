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
        let ids = logins.map(\.userId)
        let tenants = logins.map(\.tenant)
        let issuers = logins.map(\.upstreamIssuer)
        let subjects = logins.map(\.upstreamSubject)
        let emails = logins.map { $0.email ?? "" }
        let verified = logins.map(\.emailVerified)
        let names = logins.map { $0.name ?? "" }
        let linking = logins.map(\.emailLinking.rawValue)
        let versions = logins.map(\.version)
        let sources = logins.map(\.sourceEventId)
        let firstSeen = logins.map(\.firstSeenAt)
        let lastLogin = logins.map(\.lastLoginAt)
        let counts = logins.map(\.logins)
        let rows = try await connection.query(
            """
                INSERT INTO \(schema).users AS u (user_id, tenant, upstream_issuer, upstream_subject, email, email_verified, name,
                                           email_linking, version, source_event_id, first_seen_at, last_login_at, logins)
                SELECT i, t, iss, sub, NULLIF(e, ''), v, NULLIF(n, ''), l, ver, src, fs, ll, c
                FROM unnest(\(ids)::text[], \(tenants)::text[], \(issuers)::text[], \(subjects)::text[], \(emails)::text[],
                            \(verified)::bool[], \(names)::text[], \(linking)::text[], \(versions)::int8[], \(sources)::uuid[],
                            \(firstSeen)::timestamptz[], \(lastLogin)::timestamptz[], \(counts)::int8[])
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
        try await connection.query(
            """
            INSERT INTO \(schema).email_history AS h (user_id, email, first_version, last_version, first_seen_at, last_seen_at)
            SELECT * FROM unnest(\(sightings.map(\.userId))::text[], \(sightings.map(\.email))::text[],
                \(sightings.map(\.firstVersion))::int8[], \(sightings.map(\.lastVersion))::int8[],
                \(sightings.map(\.firstSeenAt))::timestamptz[], \(sightings.map(\.lastSeenAt))::timestamptz[])
            ON CONFLICT (user_id, email) DO UPDATE SET
                first_version = LEAST(h.first_version, EXCLUDED.first_version),
                last_version = GREATEST(h.last_version, EXCLUDED.last_version),
                first_seen_at = LEAST(h.first_seen_at, EXCLUDED.first_seen_at),
                last_seen_at = GREATEST(h.last_seen_at, EXCLUDED.last_seen_at)
            """,
            logger: logger
        )
    }

    func recordUsage(_ usage: [ProvisioningBatch.Usage], on connection: PostgresConnection, logger: Logger) async throws {
        guard !usage.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO \(schema).tool_usage AS t (tenant, tool, calls, successes, errors, denials, duration_us,
                                                 first_called_at, last_called_at, user_id)
            SELECT * FROM unnest(\(counters: usage), \(usage.map { $0.userId ?? "" })::text[])
            ON CONFLICT (user_id, tool) DO UPDATE SET \(unescaped: Self.counterUpdates("t"))
            """,
            logger: logger
        )
    }

    func recordPublicUsage(_ usage: [ProvisioningBatch.Usage], on connection: PostgresConnection, logger: Logger) async throws {
        guard !usage.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO \(schema).public_tool_usage AS t (tenant, tool, calls, successes, errors, denials, duration_us,
                                                        first_called_at, last_called_at)
            SELECT * FROM unnest(\(counters: usage))
            ON CONFLICT (tenant, tool) DO UPDATE SET \(unescaped: Self.counterUpdates("t"))
            """,
            logger: logger
        )
    }

    func recordServiceUsage(_ usage: [ProvisioningBatch.Usage], on connection: PostgresConnection, logger: Logger) async throws {
        guard !usage.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO \(schema).service_tool_usage AS t (tenant, tool, calls, successes, errors, denials, duration_us,
                                                         first_called_at, last_called_at, client_id)
            SELECT * FROM unnest(\(counters: usage), \(usage.map { $0.servicePrincipal ?? "" })::text[])
            ON CONFLICT (tenant, client_id, tool) DO UPDATE SET \(unescaped: Self.counterUpdates("t"))
            """,
            logger: logger
        )
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

extension PostgresQuery.StringInterpolation {
    /// The usage counters as `unnest` arguments: tenant, tool, calls, successes, errors, denials,
    /// duration, first and last call.
    fileprivate mutating func appendInterpolation(counters usage: [ProvisioningBatch.Usage]) {
        appendInterpolation(usage.map(\.tenant))
        appendLiteral("::text[], ")
        appendInterpolation(usage.map(\.tool))
        appendLiteral("::text[], ")
        appendInterpolation(usage.map(\.calls))
        appendLiteral("::int8[], ")
        appendInterpolation(usage.map(\.successes))
        appendLiteral("::int8[], ")
        appendInterpolation(usage.map(\.errors))
        appendLiteral("::int8[], ")
        appendInterpolation(usage.map(\.denials))
        appendLiteral("::int8[], ")
        appendInterpolation(usage.map(\.durationMicroseconds))
        appendLiteral("::int8[], ")
        appendInterpolation(usage.map(\.firstCalledAt))
        appendLiteral("::timestamptz[], ")
        appendInterpolation(usage.map(\.lastCalledAt))
        appendLiteral("::timestamptz[]")
    }
}
