import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import Logging
import PostgresNIO

/// A tenant as the token service knows it, from `tenant.updated`.
public struct TokenTenant: Sendable, Equatable {
    public var id: String
    public var accessTokenSeconds: Int
    public var refreshTokenSeconds: Int
}

/// Tokens just minted: the clear values go to the client once; only their hashes are stored.
struct MintedTokens: Sendable {
    var accessToken: String
    var accessExpiresAt: Date
    var refreshToken: String?
    var refreshExpiresAt: Date?
    var scopes: [String]
    var issuedAt: Date

    static let accessPrefix = "mcp_at_"
    static let refreshPrefix = "mcp_rt_"

    init(scopes: [String], accessSeconds: Int, refreshSeconds: Int?, now: Date = Date()) {
        accessToken = SecretGenerator.generate(prefix: Self.accessPrefix)
        accessExpiresAt = now.addingTimeInterval(TimeInterval(accessSeconds))
        refreshToken = refreshSeconds.map { _ in SecretGenerator.generate(prefix: Self.refreshPrefix) }
        refreshExpiresAt = refreshSeconds.map { now.addingTimeInterval(TimeInterval($0)) }
        self.scopes = scopes
        issuedAt = now
    }

    var accessHash: String { SecretHash.of(accessToken) }
    var refreshHash: String? { refreshToken.map(SecretHash.of) }
}

/// A grant as a refresh, revocation or introspection sees it.
struct GrantState: Sendable {
    var grantId: String
    var tenant: String
    var clientId: String
    var userId: String
    var scopes: [String]
    var resource: String
    var client: RegisteredClient
    var revoked: Bool
    var generation: Int
    var refreshHash: String?
    var previousRefreshHash: String?
    var refreshedAt: Date?
    var refreshExpiresAt: Date?
    /// The database's clock when the grant was read (windows are judged by one clock).
    var now: Date
}

/// An active token as introspection and userinfo report it.
struct ActiveToken: Sendable, Equatable {
    var grantId: String
    var tenant: String
    var clientId: String
    var userId: String
    var scopes: [String]
    var resource: String
    var issuedAt: Date
    var expiresAt: Date
    var email: String?
    var emailVerified: Bool
    var name: String?
}

/// The token service's state in PostgreSQL. Every change is one statement that also writes its
/// events to the outbox; races are settled by the database (a unique code hash, compare-and-set
/// on the grant row), never by a process-local lock, so any number of instances can run.
public struct TokenStore: Sendable {
    public let client: PostgresClient
    public let schema: SchemaName
    public let logger: Logger

    public init(client: PostgresClient, schema: SchemaName, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    private var outbox: OutboxWriter { OutboxWriter(schema: schema) }

    // MARK: Projections

    /// Every enabled tenant by host name, for the host directory.
    public func tenantsByHost() async throws -> [String: TokenTenant] {
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT id, hosts, access_token_seconds, refresh_token_seconds FROM \(schema.quoted).tenants WHERE NOT disabled
            """), logger: logger)
        var map: [String: TokenTenant] = [:]
        for try await (id, hosts, access, refresh) in rows.decode((String, [String], Int, Int).self) {
            for host in hosts { map[host] = TokenTenant(id: id, accessTokenSeconds: access, refreshTokenSeconds: refresh) }
        }
        return map
    }

    /// A client's registration from the projection, if it has arrived.
    func registeredClient(_ clientId: String, tenant: String) async throws -> RegisteredClient? {
        var bindings = PostgresBindings()
        bindings.append(clientId)
        bindings.append(tenant)
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT token_endpoint_auth_method, client_secret_hash, grant_types, disabled FROM \(schema.quoted).clients
            WHERE client_id = $1 AND tenant_id = $2
            """, binds: bindings), logger: logger)
        for try await (method, hash, grants, disabled) in rows.decode((String, String?, [String], Bool).self) {
            return RegisteredClient(clientId: clientId, tokenEndpointAuthMethod: method, secretHash: hash, grantTypes: grants, disabled: disabled)
        }
        return nil
    }

    // MARK: Codes

    enum Redemption: Sendable {
        case issued(grantId: String)
        /// Redeemed before (or burned by failures): nothing issued; what it produced is revoked.
        case refused
    }

    /// Redeems a code once: the redemption, the grant, its tokens and `token.issued` in one
    /// statement. A code already redeemed, or burned by `failureLimit` failures, issues nothing.
    func redeem(codeHash: String, binding: CodeBinding, client registered: RegisteredClient, tokens: MintedTokens,
                failureLimit: Int) async throws -> Redemption {
        let grantId = SecretGenerator.generate(prefix: "grt_", bytes: 16)
        let event = EventEnvelope(
            tenant: binding.tenant, aggregateKey: grantId, aggregateVersion: 1,
            payload: TokenIssued(grantId: grantId, userId: binding.userId, clientId: binding.clientId, scopes: tokens.scopes,
                                 resource: binding.resource, accessTokenHash: tokens.accessHash, accessTokenExpiresAt: tokens.accessExpiresAt,
                                 refreshFamilyId: tokens.refreshToken == nil ? nil : grantId, codeHash: codeHash))
        var bindings = PostgresBindings()
        bindings.append(codeHash)                          // $1
        bindings.append(binding.tenant)                    // $2
        bindings.append(grantId)                           // $3
        bindings.append(binding.expiresAt)                 // $4
        bindings.append(failureLimit)                      // $5
        bindings.append(binding.clientId)                  // $6
        bindings.append(binding.userId)                    // $7
        bindings.append(tokens.scopes)                     // $8
        bindings.append(binding.resource)                  // $9
        bindings.append(registered.tokenEndpointAuthMethod) // $10
        bindings.append(registered.secretHash)             // $11
        bindings.append(binding.identity.email)            // $12
        bindings.append(binding.identity.emailVerified)    // $13
        bindings.append(binding.identity.name)             // $14
        bindings.append(tokens.refreshHash)                // $15
        bindings.append(tokens.refreshExpiresAt)           // $16
        bindings.append(tokens.accessHash)                 // $17
        bindings.append(tokens.issuedAt)                   // $18
        bindings.append(tokens.accessExpiresAt)            // $19
        OutboxWriter.bind([try OutboxRecord(event)], into: &bindings) // $20-$24
        let s = schema.quoted
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            WITH redeemed AS (
                INSERT INTO \(s).code_redemptions AS r (code_hash, tenant_id, grant_id, expires_at, redeemed_at)
                VALUES ($1, $2, $3, $4, now())
                ON CONFLICT (code_hash) DO UPDATE SET grant_id = EXCLUDED.grant_id, redeemed_at = now()
                    WHERE r.grant_id IS NULL AND r.failures < $5
                RETURNING grant_id
            ), granted AS (
                INSERT INTO \(s).grants (id, tenant_id, client_id, user_id, scopes, resource, code_hash, client_auth_method, client_secret_hash,
                                         email, email_verified, name, refresh_generation, refresh_hash, refresh_expires_at)
                SELECT grant_id, $2, $6, $7, $8, $9, $1, $10, $11, $12, $13, $14, CASE WHEN $15::text IS NULL THEN 0 ELSE 1 END, $15, $16
                FROM redeemed
                RETURNING id
            ), refresh AS (
                INSERT INTO \(s).refresh_tokens (hash, grant_id, generation) SELECT $15, id, 1 FROM granted WHERE $15::text IS NOT NULL
            ), access AS (
                INSERT INTO \(s).access_tokens (hash, grant_id, scopes, issued_at, expires_at) SELECT $17, id, $8, $18, $19 FROM granted
            ), announced AS (
                \(outbox.insertSQL(firstParameter: 20, when: "granted"))
            )
            SELECT count(*) FROM granted
            """, binds: bindings), logger: logger)
        for try await count in rows.decode(Int64.self) where count == 1 { return .issued(grantId: grantId) }
        return .refused
    }

    /// A failed attempt with a valid code (wrong verifier, client or redirect URI). The code
    /// stays redeemable until `failureLimit` failures; returns how many there have been.
    @discardableResult
    func recordFailure(codeHash: String, binding: CodeBinding) async throws -> Int {
        var bindings = PostgresBindings()
        bindings.append(codeHash)
        bindings.append(binding.tenant)
        bindings.append(binding.expiresAt)
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO \(schema.quoted).code_redemptions AS r (code_hash, tenant_id, failures, expires_at) VALUES ($1, $2, 1, $3)
            ON CONFLICT (code_hash) DO UPDATE SET failures = r.failures + 1
            RETURNING failures
            """, binds: bindings), logger: logger)
        for try await failures in rows.decode(Int.self) { return failures }
        return 0
    }

    /// A redeemed code came back: the grant it produced is revoked (RFC 6749 §4.1.2, RFC 9700 §4.5).
    func revokeGrantOfReplayedCode(codeHash: String) async throws {
        var bindings = PostgresBindings()
        bindings.append(codeHash)
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT g.id FROM \(schema.quoted).code_redemptions r JOIN \(schema.quoted).grants g ON g.id = r.grant_id
            WHERE r.code_hash = $1 AND g.revoked_at IS NULL
            """, binds: bindings), logger: logger)
        for try await grantId in rows.decode(String.self) {
            try await revokeGrant(grantId, reason: "code_replayed")
        }
    }

    // MARK: Grants

    private static let grantColumns = """
        g.id, g.tenant_id, g.client_id, g.user_id, g.scopes, g.resource, g.revoked_at IS NOT NULL, g.refresh_generation, g.refresh_hash,
        g.previous_refresh_hash, g.refreshed_at, g.refresh_expires_at, now(),
        coalesce(c.token_endpoint_auth_method, g.client_auth_method), CASE WHEN c.client_id IS NULL THEN g.client_secret_hash ELSE c.client_secret_hash END,
        coalesce(c.grant_types, ARRAY['authorization_code', 'refresh_token']), coalesce(c.disabled, false)
        """

    /// The grant a refresh token belongs to, with the generation it was issued at.
    func grant(ofRefreshHash hash: String) async throws -> (GrantState, presentedGeneration: Int)? {
        var bindings = PostgresBindings()
        bindings.append(hash)
        let s = schema.quoted
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT \(Self.grantColumns), t.generation
            FROM \(s).refresh_tokens t JOIN \(s).grants g ON g.id = t.grant_id LEFT JOIN \(s).clients c ON c.client_id = g.client_id
            WHERE t.hash = $1
            """, binds: bindings), logger: logger)
        return try await Self.grants(from: rows, extra: Int.self).first.map { ($0.0, $0.1) }
    }

    /// The grant an access token belongs to (whatever its state), for revocation.
    func grant(ofAccessHash hash: String) async throws -> GrantState? {
        var bindings = PostgresBindings()
        bindings.append(hash)
        let s = schema.quoted
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT \(Self.grantColumns), 0
            FROM \(s).access_tokens t JOIN \(s).grants g ON g.id = t.grant_id LEFT JOIN \(s).clients c ON c.client_id = g.client_id
            WHERE t.hash = $1
            """, binds: bindings), logger: logger)
        return try await Self.grants(from: rows, extra: Int.self).first?.0
    }

    private static func grants<Extra: PostgresDecodable>(from rows: PostgresRowSequence, extra: Extra.Type) async throws -> [(GrantState, Extra)] {
        var result: [(GrantState, Extra)] = []
        for try await row in rows.decode((String, String, String, String, [String], String, Bool, Int, String?, String?, Date?, Date?, Date,
                                          String, String?, [String], Bool, Extra).self) {
            let (grantId, tenant, clientId, userId, scopes, resource, revoked, generation, refreshHash, previous, refreshedAt, refreshExpires,
                 now, method, secretHash, grantTypes, disabled, extra) = row
            let state = GrantState(
                grantId: grantId, tenant: tenant, clientId: clientId, userId: userId, scopes: scopes, resource: resource,
                client: RegisteredClient(clientId: clientId, tokenEndpointAuthMethod: method, secretHash: secretHash, grantTypes: grantTypes,
                                         disabled: disabled),
                revoked: revoked, generation: generation, refreshHash: refreshHash, previousRefreshHash: previous, refreshedAt: refreshedAt,
                refreshExpiresAt: refreshExpires, now: now)
            result.append((state, extra))
        }
        return result
    }

    enum RotationKind: Sendable {
        /// The live refresh token was used: the next generation replaces it.
        case rotate
        /// The token it replaced came back within the grace window, its successor still unused:
        /// a new successor of the same generation replaces the unused one.
        case graceReissue
    }

    /// Applies a rotation if the grant is still as `state` saw it (compare-and-set on the grant
    /// row, which PostgreSQL locks for the update): false when another request changed it first.
    func rotate(_ state: GrantState, presentedHash: String, kind: RotationKind, tokens: MintedTokens, grace: Duration) async throws -> Bool {
        guard let refreshHash = tokens.refreshHash else { return false }
        let generation = kind == .rotate ? state.generation + 1 : state.generation
        let event = EventEnvelope(
            tenant: state.tenant, aggregateKey: state.grantId, aggregateVersion: Int64(generation) * 2 + (kind == .rotate ? 0 : 1),
            payload: TokenRefreshed(grantId: state.grantId, userId: state.userId, clientId: state.clientId, scopes: tokens.scopes,
                                    accessTokenHash: tokens.accessHash, accessTokenExpiresAt: tokens.accessExpiresAt,
                                    refreshFamilyId: state.grantId, generation: generation))
        var bindings = PostgresBindings()
        bindings.append(state.grantId)          // $1
        bindings.append(presentedHash)          // $2
        bindings.append(refreshHash)            // $3
        bindings.append(generation)             // $4
        bindings.append(tokens.refreshExpiresAt) // $5
        bindings.append(tokens.accessHash)      // $6
        bindings.append(tokens.scopes)          // $7
        bindings.append(tokens.issuedAt)        // $8
        bindings.append(tokens.accessExpiresAt) // $9
        bindings.append(grace / .milliseconds(1)) // $10
        OutboxWriter.bind([try OutboxRecord(event)], into: &bindings) // $11-$15
        let s = schema.quoted
        let update = switch kind {
        case .rotate:
            """
            UPDATE \(s).grants SET previous_refresh_hash = refresh_hash, refresh_hash = $3, refresh_generation = $4, refreshed_at = now(),
                refresh_expires_at = $5
            WHERE id = $1 AND refresh_hash = $2 AND revoked_at IS NULL AND refresh_expires_at > now()
            RETURNING id
            """
        case .graceReissue:
            """
            UPDATE \(s).grants SET refresh_hash = $3
            WHERE id = $1 AND previous_refresh_hash = $2 AND revoked_at IS NULL AND refresh_generation = $4
              AND refreshed_at > now() - make_interval(secs => $10 / 1000.0)
            RETURNING id
            """
        }
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            WITH rotated AS (
                \(update)
            ), refresh AS (
                INSERT INTO \(s).refresh_tokens (hash, grant_id, generation) SELECT $3, id, $4 FROM rotated
            ), access AS (
                INSERT INTO \(s).access_tokens (hash, grant_id, scopes, issued_at, expires_at) SELECT $6, id, $7, $8, $9 FROM rotated
            ), announced AS (
                \(outbox.insertSQL(firstParameter: 11, when: "rotated"))
            )
            SELECT count(*) FROM rotated
            """, binds: bindings), logger: logger)
        for try await count in rows.decode(Int64.self) { return count == 1 }
        return false
    }

    /// Revokes a grant and with it every token it produced; announces `token.revoked` (and,
    /// for a reused refresh token, `token.reuse-detected` first). Idempotent: a grant already
    /// revoked is left as it is and announced once.
    @discardableResult
    func revokeGrant(_ grantId: String, reason: String, reuse: (presented: Int, current: Int)? = nil) async throws -> Bool {
        var bindings = PostgresBindings()
        bindings.append(grantId)
        bindings.append(reason)
        let s = schema.quoted
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE \(s).grants SET revoked_at = now(), revoke_reason = $2 WHERE id = $1 AND revoked_at IS NULL
                RETURNING tenant_id, user_id, client_id, refresh_generation,
                    (SELECT coalesce(array_agg(hash), '{}') FROM \(s).access_tokens a WHERE a.grant_id = $1 AND a.expires_at > now() AND a.revoked_at IS NULL)
                """, binds: bindings), logger: logger)
            for try await (tenant, userId, clientId, generation, hashes) in rows.decode((String, String, String, Int, [String]).self) {
                var records: [OutboxRecord] = []
                let version = Int64(generation) * 2 + 2
                if let reuse {
                    records.append(try OutboxRecord(EventEnvelope(
                        tenant: tenant, aggregateKey: grantId, aggregateVersion: version,
                        payload: TokenReuseDetected(grantId: grantId, userId: userId, clientId: clientId, refreshFamilyId: grantId,
                                                    presentedGeneration: reuse.presented, currentGeneration: reuse.current))))
                }
                records.append(try OutboxRecord(EventEnvelope(
                    tenant: tenant, aggregateKey: grantId, aggregateVersion: version,
                    payload: TokenRevoked(grantId: grantId, userId: userId, clientId: clientId, accessTokenHashes: hashes, reason: reason))))
                try await outbox.append(records, on: connection, logger: logger)
                return true
            }
            return false
        }
    }

    /// Revokes one access token (RFC 7009 for an access token: only it).
    func revokeAccessToken(_ hash: String, of state: GrantState) async throws {
        let event = EventEnvelope(
            tenant: state.tenant, aggregateKey: state.grantId, aggregateVersion: Int64(state.generation) * 2 + 1,
            payload: TokenRevoked(grantId: state.grantId, userId: state.userId, clientId: state.clientId, accessTokenHashes: [hash],
                                  reason: "revoked_by_client"))
        var bindings = PostgresBindings()
        bindings.append(hash)
        OutboxWriter.bind([try OutboxRecord(event)], into: &bindings)
        try await client.query(PostgresQuery(unsafeSQL: """
            WITH revoked AS (
                UPDATE \(schema.quoted).access_tokens SET revoked_at = now() WHERE hash = $1 AND revoked_at IS NULL RETURNING hash
            ), announced AS (
                \(outbox.insertSQL(firstParameter: 2, when: "revoked"))
            )
            SELECT count(*) FROM revoked
            """, binds: bindings), logger: logger)
    }

    // MARK: Introspection

    /// The access token with this hash if it is active: unexpired, not revoked, its grant not
    /// revoked. The profile is the provisioned one, or the login's until that has arrived.
    func activeAccessToken(hash: String) async throws -> ActiveToken? {
        var bindings = PostgresBindings()
        bindings.append(hash)
        let s = schema.quoted
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT g.id, g.tenant_id, g.client_id, g.user_id, a.scopes, g.resource, a.issued_at, a.expires_at,
                   CASE WHEN u.user_id IS NULL THEN g.email ELSE u.email END, coalesce(u.email_verified, g.email_verified),
                   CASE WHEN u.user_id IS NULL THEN g.name ELSE u.name END
            FROM \(s).access_tokens a JOIN \(s).grants g ON g.id = a.grant_id LEFT JOIN \(s).users u ON u.user_id = g.user_id
            WHERE a.hash = $1 AND a.revoked_at IS NULL AND a.expires_at > now() AND g.revoked_at IS NULL
            """, binds: bindings), logger: logger)
        for try await row in rows.decode((String, String, String, String, [String], String, Date, Date, String?, Bool, String?).self) {
            let (grant, tenant, clientId, userId, scopes, resource, issued, expires, email, verified, name) = row
            return ActiveToken(grantId: grant, tenant: tenant, clientId: clientId, userId: userId, scopes: scopes, resource: resource,
                               issuedAt: issued, expiresAt: expires, email: email, emailVerified: verified, name: name)
        }
        return nil
    }
}
