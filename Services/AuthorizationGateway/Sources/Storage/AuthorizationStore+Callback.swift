import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import PostgresNIO

extension AuthorizationStore {
    /// Takes the request our upstream `state` belongs to, once: it must exist at this tenant, be
    /// waiting for the upstream and unexpired, belong to the browser session that started it
    /// (`sessionHash`), and its client still enabled. Returns it with our sealed PKCE verifier
    /// and the client's token endpoint credentials (for the code's binding; nil for a client
    /// known by its metadata document, which has no row). A request that does not qualify is
    /// left as it was.
    package func claimCallback(
        stateHash: String,
        sessionHash: String,
        tenant: String
    )
        async throws -> (PendingAuthorization, sealedVerifier: String, nonce: String?, client: CodeBinding.Client?)?
    {
        let rows = try await client.query(
            """
            WITH claimed AS (
                UPDATE \(schema).authorization_requests r SET status = 'callback'
                WHERE r.upstream_state_hash = \(stateHash) AND r.tenant_id = \(tenant) AND r.session_hash = \(sessionHash)
                  AND r.status = 'upstream'
                  AND r.expires_at > now()
                  AND (r.client_id ~ '^https?://'
                       OR EXISTS (SELECT 1 FROM \(schema).clients c
                                  WHERE c.client_id = r.client_id AND c.tenant_id = r.tenant_id AND NOT c.disabled))
                RETURNING r.*
            )
            SELECT r.id, r.client_id, r.redirect_uri, r.scopes, r.resource, r.code_challenge, r.client_state, r.session_hash, r.csrf_hash,
                   r.expires_at, r.upstream_verifier, r.upstream_nonce, c.token_endpoint_auth_method, c.client_secret_hash, c.grant_types
            FROM claimed r LEFT JOIN \(schema).clients c ON c.client_id = r.client_id AND c.tenant_id = r.tenant_id
            """,
            logger: logger
        )
        for try await row in rows.decode(
            (
                String, String, String, [String], String, String, String?, String, String, Date, String, String?,
                String?, String?, [String]?
            ).self
        ) {
            let (id, clientId, redirect, scopes, resource, challenge, state, session, csrf, expires, verifier, nonce, method, secretHash, grants) =
                row
            let request = AuthorizationRequest(
                clientId: clientId,
                redirectUri: redirect,
                scopes: scopes,
                resource: resource,
                codeChallenge: challenge,
                state: state
            )
            return (
                PendingAuthorization(
                    id: id,
                    tenant: tenant,
                    request: request,
                    sessionHash: session,
                    csrfHash: csrf,
                    status: "callback",
                    expiresAt: expires
                ), verifier, nonce,
                method.map { CodeBinding.Client(tokenEndpointAuthMethod: $0, secretHash: secretHash, grantTypes: grants ?? []) }
            )
        }
        return nil
    }

    package func markFailed(_ id: String) async throws {
        try await client.query(
            "UPDATE \(schema).authorization_requests SET status = 'failed' WHERE id = \(id)",
            logger: logger
        )
    }

    /// The end of a login, in one transaction: the identity's login counter, the sealed upstream
    /// tokens, `upstream-token.stored` (identity, no token) and `code.issued` (hash and binding,
    /// never the code), the request completed and the client marked used.
    package func complete(
        _ pending: PendingAuthorization,
        identity: UpstreamIdentity,
        tokens: UpstreamTokens,
        keyRing: KeyRing,
        code: AuthorizationCode,
        binding: CodeBinding,
        emailLinking: EmailLinkingPolicy
    ) async throws {
        let userId = binding.userId
        let tokenId = "ut_" + SecretHash.of(userId).prefix(24)
        let sealedAccess = try keyRing.seal(Array(tokens.accessToken.revealed.utf8), associatedData: UpstreamTokenStore.accessData(userId))
        let sealedRefresh = try tokens.refreshToken.map {
            try keyRing.seal(Array($0.revealed.utf8), associatedData: UpstreamTokenStore.refreshData(userId))
        }
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO \(schema).identities (user_id, tenant_id, upstream_issuer, upstream_subject, version, last_login_at)
                VALUES (\(userId), \(pending.tenant), \(identity.issuer), \(identity.subject), 1, now())
                ON CONFLICT (user_id) DO UPDATE SET version = identities.version + 1, last_login_at = now()
                RETURNING version
                """,
                logger: logger
            )
            var version: Int64 = 1
            for try await value in rows.decode(Int64.self) { version = value }
            let expiresAt = tokens.expiresIn.map { Date().addingTimeInterval(TimeInterval($0)) }
            try await connection.query(
                """
                INSERT INTO \(schema).upstream_tokens (id, user_id, tenant_id, access_token, refresh_token, expires_at)
                VALUES (\(tokenId), \(userId), \(pending.tenant), \(sealedAccess), \(sealedRefresh), \(expiresAt))
                ON CONFLICT (user_id) DO UPDATE SET access_token = EXCLUDED.access_token,
                    refresh_token = coalesce(EXCLUDED.refresh_token, upstream_tokens.refresh_token),
                    expires_at = EXCLUDED.expires_at, updated_at = now()
                """,
                logger: logger
            )

            let stored = EventEnvelope(
                tenant: pending.tenant,
                aggregateKey: userId,
                aggregateVersion: version,
                payload: UpstreamTokenStored(
                    userId: userId,
                    upstreamIssuer: identity.issuer,
                    upstreamSubject: identity.subject,
                    email: identity.email,
                    emailVerified: identity.emailVerified,
                    name: identity.name,
                    upstreamTokenId: tokenId,
                    emailLinking: emailLinking
                )
            )
            let codeHash = code.hash
            let issued = EventEnvelope(
                tenant: pending.tenant,
                aggregateKey: codeHash,
                aggregateVersion: 1,
                payload: CodeIssued(
                    codeHash: codeHash,
                    clientId: binding.clientId,
                    redirectUri: binding.redirectUri,
                    codeChallenge: binding.codeChallenge,
                    resource: binding.resource,
                    scopes: binding.scopes,
                    userId: userId,
                    sealingKeyId: keyRing.currentKeyID,
                    issuedAt: binding.issuedAt,
                    expiresAt: binding.expiresAt
                )
            )
            try await OutboxWriter(schema: schema).append([try OutboxRecord(stored), try OutboxRecord(issued)], on: connection, logger: logger)

            try await connection.query(
                """
                UPDATE \(schema).authorization_requests SET status = 'completed', upstream_verifier = NULL WHERE id = \(pending.id)
                """,
                logger: logger
            )
            try await connection.query(
                """
                UPDATE \(schema).clients SET last_used_at = now(), expires_at = NULL
                WHERE client_id = \(binding.clientId) AND tenant_id = \(pending.tenant)
                """,
                logger: logger
            )

            // The login says who approved this client in this browser: the session now belongs to
            // the user, and the approval that let this login through is the user's too.
            try await connection.query(
                """
                INSERT INTO \(schema).session_users (tenant_id, session_hash, user_id)
                VALUES (\(pending.tenant), \(pending.sessionHash), \(userId))
                ON CONFLICT (tenant_id, session_hash) DO UPDATE SET user_id = EXCLUDED.user_id, bound_at = now()
                """,
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO \(schema).user_consents AS uc (tenant_id, user_id, client_id, redirect_uri, scopes)
                SELECT tenant_id, \(userId), client_id, redirect_uri, scopes FROM \(schema).consents
                WHERE tenant_id = \(pending.tenant) AND session_hash = \(pending.sessionHash)
                  AND client_id = \(binding.clientId) AND redirect_uri = \(binding.redirectUri)
                ON CONFLICT (tenant_id, user_id, client_id, redirect_uri)
                DO UPDATE SET scopes = ARRAY(SELECT DISTINCT unnest(uc.scopes || EXCLUDED.scopes)), approved_at = now()
                """,
                logger: logger
            )
        }
    }
}
