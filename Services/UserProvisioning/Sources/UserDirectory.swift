import Foundation
import GatehousePostgres
import Logging
import PostgresNIO

/// One end user as operators see them: an account (one identity, or several linked by the
/// tenant's email policy) with its identities.
package struct UserAccount: Codable, Sendable, Equatable {
    package struct Identity: Codable, Sendable, Equatable {
        package var userId: String
        package var upstreamIssuer: String
        package var upstreamSubject: String
        package var email: String?
        package var emailVerified: Bool
        package var name: String?
        package var version: Int64
        package var logins: Int64
        package var firstSeenAt: Date
        package var lastLoginAt: Date
    }

    package struct EmailRecord: Codable, Sendable, Equatable {
        package var userId: String
        package var email: String
        package var firstSeenAt: Date
        package var lastSeenAt: Date
    }

    package struct ToolUsage: Codable, Sendable, Equatable {
        package var tool: String
        package var calls: Int64
        package var successes: Int64
        package var errors: Int64
        package var denials: Int64
        package var firstCalledAt: Date
        package var lastCalledAt: Date
    }

    /// The account's id: the id of its primary identity.
    package var userId: String
    package var tenant: String
    package var email: String?
    package var emailVerified: Bool
    package var name: String?
    package var firstSeenAt: Date
    /// The latest login or tool call of any of its identities.
    package var lastSeenAt: Date
    package var identities: [Identity]
    /// Only in `show`: every email the identities have had, and tool usage per tool.
    package var emailHistory: [EmailRecord]?
    package var toolUsage: [ToolUsage]?
}

/// A page of accounts and the cursor of the next page (nil on the last one).
package struct UserPage: Codable, Sendable, Equatable {
    package var users: [UserAccount]
    package var nextCursor: String?
}

/// Read-only queries over the provisioning schema, for the admin API and the operator commands.
package struct UserDirectory: Sendable {
    package static let maximumPageSize = 200
    package static let defaultPageSize = 50

    package let client: PostgresClient
    package let schema: SchemaName
    package let logger: Logger

    package init(client: PostgresClient, schema: SchemaName, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    /// Accounts of `tenant` ordered by id, after `cursor` (the last id of the previous page).
    package func list(tenant: String, limit: Int = defaultPageSize, after cursor: String? = nil) async throws -> UserPage {
        precondition((1...Self.maximumPageSize).contains(limit))
        let ids = try await client.query(
            """
            SELECT DISTINCT account_id COLLATE "C" AS id FROM \(schema).user_accounts
            WHERE tenant = \(tenant) AND account_id COLLATE "C" > \(cursor ?? "")
            ORDER BY id LIMIT \(limit + 1)
            """,
            logger: logger
        )
        var accountIds: [String] = []
        for try await id in ids.decode(String.self) { accountIds.append(id) }
        let more = accountIds.count > limit
        accountIds = Array(accountIds.prefix(limit))
        let accounts = try await load(tenant: tenant, accountIds: accountIds)
        return UserPage(users: accounts, nextCursor: more ? accountIds.last : nil)
    }

    /// The account that `id` (an account id or the id of one of its identities) belongs to,
    /// with its email history and tool usage; nil if there is none in this tenant.
    package func show(tenant: String, id: String) async throws -> UserAccount? {
        let rows = try await client.query(
            """
            SELECT account_id FROM \(schema).user_accounts WHERE tenant = \(tenant) AND user_id = \(id)
            """,
            logger: logger
        )
        var accountId: String?
        for try await found in rows.decode(String.self) { accountId = found }
        guard let accountId, var account = try await load(tenant: tenant, accountIds: [accountId]).first else { return nil }
        let identityIds = account.identities.map(\.userId)
        account.emailHistory = try await emailHistory(of: identityIds)
        account.toolUsage = try await toolUsage(of: identityIds)
        return account
    }

    private func load(tenant: String, accountIds: [String]) async throws -> [UserAccount] {
        guard !accountIds.isEmpty else { return [] }
        let rows = try await client.query(
            """
            SELECT a.account_id, a.user_id, a.upstream_issuer, a.upstream_subject, a.email, a.email_verified, a.name,
                   a.version, a.logins, a.first_seen_at, a.last_login_at,
                   GREATEST(a.last_login_at, (SELECT max(t.last_called_at) FROM \(schema).tool_usage t WHERE t.user_id = a.user_id))
            FROM \(schema).user_accounts a
            WHERE a.tenant = \(tenant) AND a.account_id = ANY(\(accountIds)::text[])
            ORDER BY a.account_id COLLATE "C", a.first_seen_at, a.user_id COLLATE "C"
            """,
            logger: logger
        )
        var accounts: [UserAccount] = []
        for try await row in rows.decode((String, String, String, String, String?, Bool, String?, Int64, Int64, Date, Date, Date).self) {
            let (accountId, userId, issuer, subject, email, verified, name, version, logins, firstSeen, lastLogin, lastSeen) = row
            let identity = UserAccount.Identity(
                userId: userId,
                upstreamIssuer: issuer,
                upstreamSubject: subject,
                email: email,
                emailVerified: verified,
                name: name,
                version: version,
                logins: logins,
                firstSeenAt: firstSeen,
                lastLoginAt: lastLogin
            )
            if accounts.last?.userId == accountId {
                accounts[accounts.count - 1].identities.append(identity)
                accounts[accounts.count - 1].lastSeenAt = max(accounts[accounts.count - 1].lastSeenAt, lastSeen)
            } else {
                // Rows of an account come primary first (earliest first seen), so its profile leads.
                accounts.append(
                    UserAccount(
                        userId: accountId,
                        tenant: tenant,
                        email: email,
                        emailVerified: verified,
                        name: name,
                        firstSeenAt: firstSeen,
                        lastSeenAt: lastSeen,
                        identities: [identity]
                    )
                )
            }
        }
        return accounts
    }

    private func emailHistory(of userIds: [String]) async throws -> [UserAccount.EmailRecord] {
        let rows = try await client.query(
            """
            SELECT user_id, email, first_seen_at, last_seen_at FROM \(schema).email_history
            WHERE user_id = ANY(\(userIds)::text[]) ORDER BY first_seen_at, email
            """,
            logger: logger
        )
        var records: [UserAccount.EmailRecord] = []
        for try await (userId, email, first, last) in rows.decode((String, String, Date, Date).self) {
            records.append(.init(userId: userId, email: email, firstSeenAt: first, lastSeenAt: last))
        }
        return records
    }

    private func toolUsage(of userIds: [String]) async throws -> [UserAccount.ToolUsage] {
        let rows = try await client.query(
            """
            SELECT tool, sum(calls)::int8, sum(successes)::int8, sum(errors)::int8, sum(denials)::int8,
                   min(first_called_at), max(last_called_at)
            FROM \(schema).tool_usage WHERE user_id = ANY(\(userIds)::text[])
            GROUP BY tool ORDER BY tool
            """,
            logger: logger
        )
        var usage: [UserAccount.ToolUsage] = []
        for try await (tool, calls, successes, errors, denials, first, last) in rows.decode((String, Int64, Int64, Int64, Int64, Date, Date).self) {
            usage.append(
                .init(
                    tool: tool,
                    calls: calls,
                    successes: successes,
                    errors: errors,
                    denials: denials,
                    firstCalledAt: first,
                    lastCalledAt: last
                )
            )
        }
        return usage
    }

    /// Every row of the provisioning state as sorted text lines: two schemas with the same
    /// dump hold the same users, history, usage and links. (The inbox and outbox are plumbing,
    /// not state, and are left out.)
    package func canonicalDump() async throws -> [String] {
        let s = schema
        func ts(_ column: String) -> String { "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')" }
        let rows = try await client.query(
            """
            SELECT line FROM (
                SELECT concat_ws(E'\t', 'user', user_id, tenant, upstream_issuer, upstream_subject, coalesce(email, '-'),
                                 email_verified, coalesce(name, '-'), email_linking, version, source_event_id,
                                 \(unescaped: ts("first_seen_at")), \(unescaped: ts("last_login_at")), logins, 'account=' || account_id) AS line
                FROM \(s).user_accounts
                UNION ALL
                SELECT concat_ws(E'\t', 'email', user_id, email, first_version, last_version,
                                 \(unescaped: ts("first_seen_at")), \(unescaped: ts("last_seen_at")))
                FROM \(s).email_history
                UNION ALL
                SELECT concat_ws(E'\t', 'usage', user_id, tool, tenant, calls, successes, errors, denials, duration_us,
                                 \(unescaped: ts("first_called_at")), \(unescaped: ts("last_called_at")))
                FROM \(s).tool_usage
                UNION ALL
                SELECT concat_ws(E'\t', 'public', tenant, tool, calls, successes, errors, denials, duration_us,
                                 \(unescaped: ts("first_called_at")), \(unescaped: ts("last_called_at")))
                FROM \(s).public_tool_usage
                UNION ALL
                SELECT concat_ws(E'\t', 'service', tenant, client_id, tool, calls, successes, errors, denials, duration_us,
                                 \(unescaped: ts("first_called_at")), \(unescaped: ts("last_called_at")))
                FROM \(s).service_tool_usage
            ) lines ORDER BY line COLLATE "C"
            """,
            logger: logger
        )
        var lines: [String] = []
        for try await line in rows.decode(String.self) { lines.append(line) }
        return lines
    }
}
