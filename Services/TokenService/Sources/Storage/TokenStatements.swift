import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import PostgresNIO

/// The token service's hot statements, prepared once per connection: PostgreSQL parses and
/// plans a statement this size on every unprepared execution, which costs more than running it.
/// Each serves a whole batch (see `Batcher`).
enum TokenStatements {
    static let schema = TokenServiceService.definition.schema.quoted

    /// Active access tokens among `hashes`: unexpired, not revoked, their grant not revoked; the
    /// provisioned profile, or the login's until that has arrived.
    struct ActiveAccessTokens: PostgresPreparedStatement {
        static let sql = """
            SELECT a.hash, g.id, g.tenant_id, g.client_id, g.user_id, a.scopes, g.resource, a.issued_at, a.expires_at,
                   CASE WHEN u.user_id IS NULL THEN g.email ELSE u.email END, coalesce(u.email_verified, g.email_verified),
                   CASE WHEN u.user_id IS NULL THEN g.name ELSE u.name END, g.dpop_jkt
            FROM \(schema).access_tokens a JOIN \(schema).grants g ON g.id = a.grant_id LEFT JOIN \(schema).users u ON u.user_id = g.user_id
            WHERE a.hash = ANY($1) AND a.revoked_at IS NULL AND a.expires_at > now() AND g.revoked_at IS NULL
            """

        var hashes: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(hashes)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (String, ActiveToken) {
            let (hash, grant, tenant, clientId, userId, scopes, resource, issued, expires, email, verified, name, dpop) = try row.decode(
                (String, String, String, String, String?, [String], String, Date, Date, String?, Bool, String?, String?).self
            )
            return (
                hash,
                ActiveToken(
                    grantId: grant,
                    tenant: tenant,
                    clientId: clientId,
                    userId: userId,
                    scopes: scopes,
                    resource: resource,
                    issuedAt: issued,
                    expiresAt: expires,
                    email: email,
                    emailVerified: verified,
                    name: name,
                    dpopThumbprint: dpop
                )
            )
        }
    }

    /// The grants the refresh tokens among `hashes` belong to, with each token's generation.
    struct GrantsOfRefreshTokens: PostgresPreparedStatement {
        static let sql = """
            SELECT \(TokenStore.grantColumns), t.generation, t.hash
            FROM \(schema).refresh_tokens t JOIN \(schema).grants g ON g.id = t.grant_id LEFT JOIN \(schema).clients c ON c.client_id = g.client_id
            WHERE t.hash = ANY($1)
            """

        var hashes: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(hashes)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (GrantState, generation: Int, hash: String) {
            try TokenStore.grantState(from: row)
        }
    }

    /// The rotations of a batch (see `TokenStore.Rotation`), any number per grant. Each grant
    /// rotates at most once: from the token a rotation presented, if that is still live. Then a
    /// rotation is confirmed when its grant is in the state it expects, whoever put it there:
    /// its successor live and its presented token the previous one (within the grace window
    /// unless this statement rotated it). Concurrent presentations of one token all derive the
    /// same successor, so they are all confirmed together. Only confirmed rotations get their
    /// tokens and `token.refreshed`; returns their access token hashes.
    struct Rotate: PostgresPreparedStatement {
        static let sql = """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[],
                                     $8::timestamptz[], $9::timestamptz[], $10::bool[], $11::float8[], $12::text[]) WITH ORDINALITY
                    AS i(grant_id, presented, refresh_hash, generation, refresh_expires_at, access_hash, scopes, issued_at, access_expires_at,
                         is_repeat, grace_ms, key_id, ord)
            ), rotated AS (
                UPDATE \(schema).grants g SET
                    previous_refresh_hash = g.refresh_hash, refresh_hash = i.refresh_hash, refresh_generation = i.generation,
                    refresh_key_id = i.key_id, refreshed_at = now(), refresh_expires_at = i.refresh_expires_at
                FROM (SELECT DISTINCT ON (grant_id) * FROM input WHERE NOT is_repeat ORDER BY grant_id, ord) i
                WHERE g.id = i.grant_id AND g.revoked_at IS NULL AND g.refresh_expires_at > now() AND g.refresh_hash = i.presented
                RETURNING g.id, g.refresh_hash AS live, g.previous_refresh_hash AS previous
            ), held AS (
                SELECT g.id, g.refresh_hash, g.previous_refresh_hash, g.refresh_generation, g.refresh_key_id, g.refreshed_at
                FROM \(schema).grants g
                WHERE g.id IN (SELECT grant_id FROM input) AND g.id NOT IN (SELECT id FROM rotated)
                    AND g.revoked_at IS NULL AND g.refresh_expires_at > now()
                FOR SHARE OF g
            ), confirmed AS (
                SELECT i.* FROM input i JOIN rotated r ON r.id = i.grant_id
                WHERE r.live = i.refresh_hash AND r.previous = i.presented
                UNION ALL
                SELECT i.* FROM input i JOIN held g ON g.id = i.grant_id
                WHERE g.previous_refresh_hash = i.presented AND g.refresh_hash = i.refresh_hash AND g.refresh_generation = i.generation
                    AND g.refresh_key_id = i.key_id AND g.refreshed_at > now() - make_interval(secs => i.grace_ms / 1000.0)
            ), refresh AS (
                INSERT INTO \(schema).refresh_tokens (hash, grant_id, generation)
                SELECT DISTINCT refresh_hash, grant_id, generation FROM confirmed
                ON CONFLICT (hash) DO NOTHING
            ), access AS (
                INSERT INTO \(schema).access_tokens (hash, grant_id, scopes, issued_at, expires_at)
                SELECT access_hash, grant_id, string_to_array(scopes, ' '), issued_at, access_expires_at FROM confirmed
            ), announced AS (
                \(OutboxWriter(schema: TokenServiceService.definition.schema).insertSQL(firstParameter: 13, positionsIn: "SELECT ord FROM confirmed"))
            )
            SELECT access_hash FROM confirmed
            """

        var rotations: [TokenStore.Rotation]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(rotations.map(\.grantId.rawValue))  // $1
            bindings.append(rotations.map(\.presentedHash))  // $2
            bindings.append(rotations.map { $0.tokens.refreshHash ?? "" })  // $3
            bindings.append(rotations.map(\.generation))  // $4
            bindings.append(rotations.map { $0.tokens.refreshExpiresAt ?? Date() })  // $5
            bindings.append(rotations.map(\.tokens.accessHash))  // $6
            bindings.append(rotations.map { $0.tokens.scopes.joined(separator: " ") })  // $7
            bindings.append(rotations.map(\.tokens.issuedAt))  // $8
            bindings.append(rotations.map(\.tokens.accessExpiresAt))  // $9
            bindings.append(rotations.map(\.repeatsSuccessor))  // $10
            bindings.append(rotations.map { $0.grace / .milliseconds(1) })  // $11
            bindings.append(rotations.map(\.keyID))  // $12
            OutboxWriter.bind(rotations.map(\.event), into: &bindings)  // $13-$17
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> String {
            try row.decode(String.self)
        }
    }

    /// Redeems a code once: the redemption (unique code hash; a redeemed or burned code updates
    /// nothing), the grant, its tokens and `token.issued`. Returns 1 when issued, 0 when refused.
    struct Redeem: PostgresPreparedStatement {
        static let sql = """
            WITH redeemed AS (
                INSERT INTO \(schema).code_redemptions AS r (code_hash, tenant_id, grant_id, expires_at, redeemed_at)
                VALUES ($1, $2, $3, $4, now())
                ON CONFLICT (code_hash) DO UPDATE SET grant_id = EXCLUDED.grant_id, redeemed_at = now()
                    WHERE r.grant_id IS NULL AND r.failures < $5
                RETURNING grant_id
            ), granted AS (
                INSERT INTO \(schema).grants (id, tenant_id, client_id, user_id, scopes, resource, code_hash, client_auth_method,
                                             client_secret_hash, email, email_verified, name, refresh_generation, refresh_hash, refresh_expires_at,
                                             dpop_jkt)
                SELECT grant_id, $2, $6, $7, $8, $9, $1, $10, $11, $12, $13, $14, CASE WHEN $15::text IS NULL THEN 0 ELSE 1 END, $15, $16, $25
                FROM redeemed
                RETURNING id
            ), refresh AS (
                INSERT INTO \(schema).refresh_tokens (hash, grant_id, generation) SELECT $15, id, 1 FROM granted WHERE $15::text IS NOT NULL
            ), access AS (
                INSERT INTO \(schema).access_tokens (hash, grant_id, scopes, issued_at, expires_at) SELECT $17, id, $8, $18, $19 FROM granted
            ), announced AS (
                \(OutboxWriter(schema: TokenServiceService.definition.schema).insertSQL(firstParameter: 20, when: "granted"))
            )
            SELECT count(*) FROM granted
            """

        var codeHash: String
        var binding: CodeBinding
        var client: RegisteredClient
        var tokens: MintedTokens
        var grantId: String
        var failureLimit: Int
        var event: OutboxRecord

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(codeHash)  // $1
            bindings.append(binding.tenant)  // $2
            bindings.append(grantId)  // $3
            bindings.append(binding.expiresAt)  // $4
            bindings.append(failureLimit)  // $5
            bindings.append(binding.clientId)  // $6
            bindings.append(binding.userId)  // $7
            bindings.append(tokens.scopes)  // $8
            bindings.append(binding.resource)  // $9
            bindings.append(client.tokenEndpointAuthMethod)  // $10
            bindings.append(client.secretHash)  // $11
            bindings.append(binding.identity.email)  // $12
            bindings.append(binding.identity.emailVerified)  // $13
            bindings.append(binding.identity.name)  // $14
            bindings.append(tokens.refreshHash)  // $15
            bindings.append(tokens.refreshExpiresAt)  // $16
            bindings.append(tokens.accessHash)  // $17
            bindings.append(tokens.issuedAt)  // $18
            bindings.append(tokens.accessExpiresAt)  // $19
            OutboxWriter.bind([event], into: &bindings)  // $20-$24
            bindings.append(tokens.boundTo)  // $25
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 {
            try row.decode(Int64.self)
        }
    }
}
