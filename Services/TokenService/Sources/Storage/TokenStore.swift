import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// The token service's state in PostgreSQL. Every change is one statement that also writes its
/// events to the outbox; races are settled by the database (a unique code hash, compare-and-set
/// on the grant row), never by a process-local lock, so any number of instances can run.
package struct TokenStore: Sendable {
    package let client: PostgresClient
    package let schema: SchemaName
    package let logger: Logger

    private let accessTokens: Batcher<String, ActiveToken>
    private let refreshTokens: Batcher<String, (GrantState, Int)>
    let rotations: Batcher<Rotation, Bool>
    private let proofs: DPoPReplay

    /// The store of the token service's schema (its hot statements are prepared for that schema).
    package init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.schema = TokenServiceService.definition.schema
        self.logger = logger
        proofs = DPoPReplay(schema: TokenServiceService.definition.schema, client: client, logger: logger)
        // Concurrent introspections and refreshes share round trips (see Batcher).
        accessTokens = Batcher(duplicates: .share) { [client, logger] hashes in
            try await Self.activeAccessTokens(hashes: hashes, client: client, logger: logger)
        }
        refreshTokens = Batcher(duplicates: .share) { [client, logger] hashes in
            try await Self.grants(ofRefreshHashes: hashes, client: client, logger: logger)
        }
        // Keyed by the new access token's hash, unique: rotations of one grant share a statement,
        // which settles them together.
        rotations = Batcher(duplicates: .separate) { [client, logger] rotations in
            try await Self.rotate(rotations, client: client, logger: logger)
        }
    }

    private var outbox: OutboxWriter { OutboxWriter(schema: schema) }

    // MARK: Projections

    /// The tenants written since `position` (all of them when it is nil), for the host directory.
    package func tenantChanges(since position: String?) async throws -> DirectoryChanges<TokenTenant> {
        try await TenantProjection.changes(since: position, schema: schema, client: client, logger: logger, decoding: TenantView.self) { id, view in
            TokenTenant(
                id: TenantID(id),
                accessTokenSeconds: view.accessTokenSeconds,
                refreshTokenSeconds: view.refreshTokenSeconds,
                freshUpstreamProfile: view.freshUpstreamProfile,
                clientProfiles: view.clientProfiles ?? ClientProfiles(),
                grants: view.grants ?? TenantGrants()
            )
        }
    }

    /// What the token service reads of a projected tenant.
    private struct TenantView: Decodable {
        var accessTokenSeconds: Int
        var refreshTokenSeconds: Int
        var freshUpstreamProfile: Bool
        var clientProfiles: ClientProfiles?
        var grants: TenantGrants?
    }

    /// A client's registration from the projection, if it has arrived.
    func registeredClient(_ clientId: ClientID, tenant: TenantID) async throws -> RegisteredClient? {
        let rows = try await client.query(
            """
            SELECT token_endpoint_auth_method, client_secret_hash, grant_types, disabled, scope, jwks::text FROM \(schema).clients
            WHERE client_id = \(clientId) AND tenant_id = \(tenant)
            """,
            logger: logger
        )
        for try await (method, hash, grants, disabled, scope, jwks) in rows.decode((String, String?, [String], Bool, String?, String?).self) {
            return RegisteredClient(
                clientId: clientId,
                tokenEndpointAuthMethod: method,
                secretHash: hash,
                grantTypes: grants,
                disabled: disabled,
                scope: scope,
                keys: try jwks.map { try JSONDecoder().decode(ClientKeySet.self, from: Data($0.utf8)) }
            )
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
    func redeem(
        codeHash: String,
        binding: CodeBinding,
        client registered: RegisteredClient,
        tokens: MintedTokens,
        failureLimit: Int
    ) async throws -> Redemption {
        let grantId = SecretGenerator.generate(prefix: "grt_", bytes: 16)
        let event = EventEnvelope(
            tenant: binding.tenant,
            aggregateKey: grantId,
            aggregateVersion: 1,
            payload: TokenIssued(
                grantId: grantId,
                userId: binding.userId,
                clientId: binding.clientId,
                scopes: tokens.scopes,
                resource: binding.resource,
                accessTokenHash: tokens.accessHash,
                accessTokenExpiresAt: tokens.accessExpiresAt,
                refreshFamilyId: tokens.refreshToken == nil ? nil : grantId,
                codeHash: codeHash
            )
        )
        let statement = TokenStatements.Redeem(
            codeHash: codeHash,
            binding: binding,
            client: registered,
            tokens: tokens,
            grantId: grantId,
            failureLimit: failureLimit,
            event: try OutboxRecord(event)
        )
        for try await count in try await client.execute(statement, logger: logger) where count == 1 { return .issued(grantId: grantId) }
        return .refused
    }

    // MARK: Service principals

    /// A service principal's grant (client credentials): the grant, its access token and
    /// `token.issued` in one statement. Returns the grant id.
    func issueToServicePrincipal(
        tenant: TenantID,
        client registered: RegisteredClient,
        tokens: MintedTokens,
        resource: String
    ) async throws
        -> GrantID
    {
        let grantId = SecretGenerator.generate(prefix: "grt_", bytes: 16)
        let event = EventEnvelope(
            tenant: tenant.rawValue,
            aggregateKey: grantId,
            aggregateVersion: 1,
            payload: TokenIssued(
                grantId: grantId,
                userId: nil,
                clientId: registered.clientId.rawValue,
                scopes: tokens.scopes,
                resource: resource,
                accessTokenHash: tokens.accessHash,
                accessTokenExpiresAt: tokens.accessExpiresAt,
                refreshFamilyId: nil,
                codeHash: nil,
                grantType: "client_credentials"
            )
        )
        let announcement = outbox.insert([try OutboxRecord(event)], when: "granted")
        try await client.query(
            """
            WITH granted AS (
                INSERT INTO \(schema).grants (id, tenant_id, client_id, user_id, scopes, resource, code_hash, client_auth_method,
                                              client_secret_hash, email, email_verified, name, grant_type, dpop_jkt)
                VALUES (\(grantId), \(tenant), \(registered.clientId), NULL, \(tokens.scopes), \(resource), NULL,
                        \(registered.tokenEndpointAuthMethod), \(registered.secretHash), NULL, false, NULL, 'client_credentials',
                        \(tokens.boundTo))
                RETURNING id
            ), access AS (
                INSERT INTO \(schema).access_tokens (hash, grant_id, scopes, issued_at, expires_at)
                SELECT \(tokens.accessHash), id, \(tokens.scopes), \(tokens.issuedAt), \(tokens.accessExpiresAt) FROM granted
            ), announced AS (
                \(announcement)
            )
            SELECT count(*) FROM granted
            """,
            logger: logger
        )
        return GrantID(grantId)
    }

    /// Records a DPoP proof's `jti` (with its key) until it leaves the accepted window: false
    /// when it was recorded before (a replay), on whichever instance.
    func recordProof(_ proof: DPoPProof.Verified) async throws -> Bool {
        try await proofs.record(thumbprint: proof.thumbprint, jti: proof.jti, expiresAt: proof.expiresAt)
    }

    /// Records a client assertion's `jti` until it expires: false when it was recorded before
    /// (a replay), on whichever instance. Expired ones are swept by the same statement.
    func recordAssertion(tenant: TenantID, client clientId: ClientID, jti: String, expiresAt: Date) async throws -> Bool {
        let keepUntil = max(expiresAt, Date()).addingTimeInterval(ClientAssertion.leeway)
        let rows = try await client.query(
            """
            WITH swept AS (
                DELETE FROM \(schema).client_assertions WHERE expires_at < now() - interval '1 minute'
            )
            INSERT INTO \(schema).client_assertions (tenant_id, client_id, jti, expires_at)
            VALUES (\(tenant), \(clientId), \(jti), \(keepUntil))
            ON CONFLICT DO NOTHING
            RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// A failed attempt with a valid code (wrong verifier, client or redirect URI). The code
    /// stays redeemable until `failureLimit` failures; returns how many there have been.
    @discardableResult
    func recordFailure(codeHash: String, binding: CodeBinding) async throws -> Int {
        let rows = try await client.query(
            """
            INSERT INTO \(schema).code_redemptions AS r (code_hash, tenant_id, failures, expires_at)
            VALUES (\(codeHash), \(binding.tenant), 1, \(binding.expiresAt))
            ON CONFLICT (code_hash) DO UPDATE SET failures = r.failures + 1
            RETURNING failures
            """,
            logger: logger
        )
        for try await failures in rows.decode(Int.self) { return failures }
        return 0
    }

    /// A redeemed code came back: the grant it produced is revoked (RFC 6749 §4.1.2, RFC 9700 §4.5).
    func revokeGrantOfReplayedCode(codeHash: String) async throws {
        let s = schema
        let rows = try await client.query(
            """
            SELECT g.id FROM \(s).code_redemptions r JOIN \(s).grants g ON g.id = r.grant_id
            WHERE r.code_hash = \(codeHash) AND g.revoked_at IS NULL
            """,
            logger: logger
        )
        for try await grantId in rows.decode(String.self) {
            try await revokeGrant(GrantID(grantId), reason: "code_replayed")
        }
    }

    // MARK: Grants

    static let grantColumns = """
        g.id, g.tenant_id, g.client_id, g.user_id, g.scopes, g.resource, g.revoked_at IS NOT NULL, g.refresh_generation, g.refresh_hash,
        g.previous_refresh_hash, g.refreshed_at, g.refresh_expires_at, g.refresh_key_id, now(),
        coalesce(c.token_endpoint_auth_method, g.client_auth_method), CASE WHEN c.client_id IS NULL THEN g.client_secret_hash ELSE c.client_secret_hash END,
        coalesce(c.grant_types, ARRAY['authorization_code', 'refresh_token']), coalesce(c.disabled, false), g.dpop_jkt
        """

    /// The grant a refresh token belongs to, with the generation it was issued at.
    func grant(ofRefreshHash hash: String) async throws -> (GrantState, presentedGeneration: Int)? {
        try await refreshTokens.submit(hash, key: hash).map { ($0.0, $0.1) }
    }

    private static func grants(ofRefreshHashes hashes: [String], client: PostgresClient, logger: Logger) async throws -> [String: (GrantState, Int)] {
        var result: [String: (GrantState, Int)] = [:]
        for try await (state, generation, hash) in try await client.execute(TokenStatements.GrantsOfRefreshTokens(hashes: hashes), logger: logger) {
            result[hash] = (state, generation)
        }
        return result
    }

    /// The grant an access token belongs to (whatever its state), for revocation.
    func grant(ofAccessHash hash: String) async throws -> GrantState? {
        let s = schema
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.grantColumns), 0, t.hash
            FROM \(s).access_tokens t JOIN \(s).grants g ON g.id = t.grant_id
                LEFT JOIN \(s).clients c ON c.client_id = g.client_id
            WHERE t.hash = \(hash)
            """,
            logger: logger
        )
        for try await row in rows { return try Self.grantState(from: row).0 }
        return nil
    }

    /// A row of `grantColumns` followed by the presented token's generation and hash.
    static func grantState(from row: PostgresRow) throws -> (GrantState, generation: Int, hash: String) {
        let (
            grantId, tenant, clientId, userId, scopes, resource, revoked, generation, refreshHash, previous, refreshedAt, refreshExpires,
            keyID, now, method, secretHash, grantTypes, disabled, dpop, presentedGeneration, hash
        ) = try row.decode(
            (
                String, String, String, String?, [String], String, Bool, Int, String?, String?, Date?, Date?, String?, Date,
                String, String?, [String], Bool, String?, Int, String
            ).self
        )
        let state = GrantState(
            grantId: GrantID(grantId),
            tenant: TenantID(tenant),
            clientId: ClientID(clientId),
            userId: userId.map { UserID($0) },
            scopes: scopes,
            resource: resource,
            client: RegisteredClient(
                clientId: ClientID(clientId),
                tokenEndpointAuthMethod: method,
                secretHash: secretHash,
                grantTypes: grantTypes,
                disabled: disabled
            ),
            revoked: revoked,
            generation: generation,
            refreshHash: refreshHash,
            previousRefreshHash: previous,
            refreshedAt: refreshedAt,
            refreshExpiresAt: refreshExpires,
            refreshKeyID: keyID,
            dpopThumbprint: dpop,
            now: now
        )
        return (state, presentedGeneration, hash)
    }

    /// Revokes a grant and with it every token it produced; announces `token.revoked` (and,
    /// for a reused refresh token, `token.reuse-detected` first). Idempotent: a grant already
    /// revoked is left as it is and announced once.
    @discardableResult
    func revokeGrant(_ grant: GrantID, reason: String, reuse: (presented: Int, current: Int)? = nil) async throws -> Bool {
        let s = schema
        let grantId = grant.rawValue
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE \(s).grants SET revoked_at = now(), revoke_reason = \(reason) WHERE id = \(grantId) AND revoked_at IS NULL
                RETURNING tenant_id, user_id, client_id, refresh_generation,
                    (SELECT coalesce(array_agg(hash), '{}') FROM \(s).access_tokens a
                     WHERE a.grant_id = \(grantId) AND a.expires_at > now() AND a.revoked_at IS NULL)
                """,
                logger: logger
            )
            for try await (tenant, userId, clientId, generation, hashes) in rows.decode((String, String?, String, Int, [String]).self) {
                var records: [OutboxRecord] = []
                let version = Int64(generation) * 2 + 2
                // Only a user's grant has refresh tokens to reuse.
                if let reuse, let userId {
                    records.append(
                        try OutboxRecord(
                            EventEnvelope(
                                tenant: tenant,
                                aggregateKey: grantId,
                                aggregateVersion: version,
                                payload: TokenReuseDetected(
                                    grantId: grantId,
                                    userId: userId,
                                    clientId: clientId,
                                    refreshFamilyId: grantId,
                                    presentedGeneration: reuse.presented,
                                    currentGeneration: reuse.current
                                )
                            )
                        )
                    )
                }
                records.append(
                    try OutboxRecord(
                        EventEnvelope(
                            tenant: tenant,
                            aggregateKey: grantId,
                            aggregateVersion: version,
                            payload: TokenRevoked(grantId: grantId, userId: userId, clientId: clientId, accessTokenHashes: hashes, reason: reason)
                        )
                    )
                )
                try await outbox.append(records, on: connection, logger: logger)
                return true
            }
            return false
        }
    }

    /// Revokes one access token (RFC 7009 for an access token: only it).
    func revokeAccessToken(_ hash: String, of state: GrantState) async throws {
        let event = EventEnvelope(
            tenant: state.tenant.rawValue,
            aggregateKey: state.grantId.rawValue,
            aggregateVersion: Int64(state.generation) * 2 + 1,
            payload: TokenRevoked(
                grantId: state.grantId.rawValue,
                userId: state.userId?.rawValue,
                clientId: state.clientId.rawValue,
                accessTokenHashes: [hash],
                reason: "revoked_by_client"
            )
        )
        let announcement = outbox.insert([try OutboxRecord(event)], when: "revoked")
        try await client.query(
            """
            WITH revoked AS (
                UPDATE \(schema).access_tokens SET revoked_at = now() WHERE hash = \(hash) AND revoked_at IS NULL RETURNING hash
            ), announced AS (
                \(announcement)
            )
            SELECT count(*) FROM revoked
            """,
            logger: logger
        )
    }

    // MARK: Introspection

    /// The access token with this hash if it is active: unexpired, not revoked, its grant not
    /// revoked. The profile is the provisioned one, or the login's until that has arrived.
    func activeAccessToken(hash: String) async throws -> ActiveToken? {
        try await accessTokens.submit(hash, key: hash)
    }

    private static func activeAccessTokens(hashes: [String], client: PostgresClient, logger: Logger) async throws -> [String: ActiveToken] {
        var result: [String: ActiveToken] = [:]
        for try await (hash, token) in try await client.execute(TokenStatements.ActiveAccessTokens(hashes: hashes), logger: logger) {
            result[hash] = token
        }
        return result
    }
}
