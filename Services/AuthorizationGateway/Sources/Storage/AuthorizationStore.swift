import Foundation
import GatehouseCrypto
import GatehousePostgres
import Logging
import PostgresNIO

/// An authorization in progress: the checked request, the browser session it belongs to, and
/// (once approved) our own PKCE verifier, state and nonce for the upstream leg.
package struct PendingAuthorization: Sendable, Equatable {
    package var id: String
    package var tenant: String
    package var request: AuthorizationRequest
    package var sessionHash: String
    package var csrfHash: String
    package var status: String
    package var expiresAt: Date
}

/// Authorization requests, consents and client lookups in the gateway's schema.
package struct AuthorizationStore: Sendable {
    package static let lifetime: TimeInterval = 600

    package let client: PostgresClient
    package let schema: SchemaName
    package let logger: Logger

    package init(client: PostgresClient, schema: SchemaName, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    /// The tenant's enabled, unexpired client with this id.
    package func client(_ clientId: String, tenant: String) async throws -> AuthorizingClient? {
        let rows = try await client.query(
            """
            SELECT client_id, client_name, redirect_uris, grant_types, scope FROM \(schema).clients
            WHERE tenant_id = \(tenant) AND client_id = \(clientId) AND NOT disabled AND (expires_at IS NULL OR expires_at > now())
            """,
            logger: logger
        )
        for try await (id, name, redirects, grants, scope) in rows.decode((String, String?, [String], [String], String?).self) {
            return AuthorizingClient(clientId: id, name: name, redirectUris: redirects, grantTypes: grants, scope: scope)
        }
        return nil
    }

    package func create(_ request: AuthorizationRequest, tenant: String, sessionHash: String, csrfHash: String) async throws -> PendingAuthorization {
        let pending = PendingAuthorization(
            id: SecretGenerator.generate(prefix: "ar_", bytes: 24),
            tenant: tenant,
            request: request,
            sessionHash: sessionHash,
            csrfHash: csrfHash,
            status: "pending",
            expiresAt: Date().addingTimeInterval(Self.lifetime)
        )
        try await client.query(
            """
            INSERT INTO \(schema).authorization_requests (id, tenant_id, client_id, redirect_uri, scopes, resource, code_challenge,
                client_state, session_hash, csrf_hash, status, expires_at)
            VALUES (\(pending.id), \(tenant), \(request.clientId), \(request.redirectUri), \(request.scopes), \(request.resource),
                \(request.codeChallenge), \(request.state), \(sessionHash), \(csrfHash), 'pending', \(pending.expiresAt))
            """,
            logger: logger
        )
        return pending
    }

    package func pending(_ id: String, tenant: String) async throws -> PendingAuthorization? {
        let rows = try await client.query(
            """
            SELECT id, tenant_id, client_id, redirect_uri, scopes, resource, code_challenge, client_state, session_hash, csrf_hash,
                   status, expires_at
            FROM \(schema).authorization_requests WHERE id = \(id) AND tenant_id = \(tenant)
            """,
            logger: logger
        )
        for try await row in rows.decode((String, String, String, String, [String], String, String, String?, String, String, String, Date).self) {
            let (id, tenant, clientId, redirect, scopes, resource, challenge, state, session, csrf, status, expires) = row
            return PendingAuthorization(
                id: id,
                tenant: tenant,
                request: AuthorizationRequest(
                    clientId: clientId,
                    redirectUri: redirect,
                    scopes: scopes,
                    resource: resource,
                    codeChallenge: challenge,
                    state: state
                ),
                sessionHash: session,
                csrfHash: csrf,
                status: status,
                expiresAt: expires
            )
        }
        return nil
    }

    /// Moves a pending request on (`denied`, or `upstream` with our leg's secrets); false if it
    /// was no longer pending (a second submission of the consent form).
    package func finish(
        _ id: String,
        status: String,
        upstreamStateHash: String? = nil,
        sealedVerifier: String? = nil,
        nonce: String? = nil
    ) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE \(schema).authorization_requests
            SET status = \(status), upstream_state_hash = NULLIF(\(upstreamStateHash ?? ""), ''),
                upstream_verifier = NULLIF(\(sealedVerifier ?? ""), ''), upstream_nonce = NULLIF(\(nonce ?? ""), ''),
                expires_at = LEAST(expires_at, now() + interval '10 minutes')
            WHERE id = \(id) AND status = 'pending' AND expires_at > now()
            RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    /// Whether this browser session, or the user a login through it identified, approved this
    /// client and redirect URI for at least these scopes.
    package func hasConsent(tenant: String, sessionHash: String, request: AuthorizationRequest) async throws -> Bool {
        try await hasApproval(tenant: tenant, sessionHash: sessionHash, clientId: request.clientId, covering: request)
    }

    /// Whether this browser session (or the user signed in on it) has ever approved `clientId`:
    /// only such a client may receive error redirects without a page of ours in between.
    package func hasApprovedClient(tenant: String, sessionHash: String, clientId: String) async throws -> Bool {
        try await hasApproval(tenant: tenant, sessionHash: sessionHash, clientId: clientId, covering: nil)
    }

    /// An approval of `clientId` by this browser session, or by the user signed in on it; with
    /// `request`, one for its redirect URI that covers its scopes.
    private func hasApproval(tenant: String, sessionHash: String, clientId: String, covering request: AuthorizationRequest?) async throws -> Bool {
        let redirect = request?.redirectUri
        let scopes = request?.scopes
        let rows = try await client.query(
            """
            SELECT 1 FROM \(schema).consents
            WHERE tenant_id = \(tenant) AND session_hash = \(sessionHash) AND client_id = \(clientId)
                AND (\(redirect)::text IS NULL OR redirect_uri = \(redirect)) AND (\(scopes)::text[] IS NULL OR scopes @> \(scopes)::text[])
            UNION ALL
            SELECT 1 FROM \(schema).session_users su
            JOIN \(schema).user_consents uc ON uc.tenant_id = su.tenant_id AND uc.user_id = su.user_id
            WHERE su.tenant_id = \(tenant) AND su.session_hash = \(sessionHash) AND uc.client_id = \(clientId)
                AND (\(redirect)::text IS NULL OR uc.redirect_uri = \(redirect)) AND (\(scopes)::text[] IS NULL OR uc.scopes @> \(scopes)::text[])
            LIMIT 1
            """,
            logger: logger
        )
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    package func recordConsent(tenant: String, sessionHash: String, request: AuthorizationRequest) async throws {
        try await client.query(
            """
            INSERT INTO \(schema).consents (tenant_id, session_hash, client_id, redirect_uri, scopes)
            VALUES (\(tenant), \(sessionHash), \(request.clientId), \(request.redirectUri), \(request.scopes))
            ON CONFLICT (tenant_id, session_hash, client_id, redirect_uri)
            DO UPDATE SET scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes)), approved_at = now()
            """,
            logger: logger
        )
    }
}
