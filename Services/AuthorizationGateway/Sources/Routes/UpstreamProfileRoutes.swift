import Foundation
import GatehouseCrypto
import GatehousePostgres
import GatehouseRuntime
import Hummingbird
import Logging
import PostgresNIO

/// `POST /internal/upstream-profile` (for the token service's userinfo, never routed from the
/// internet): the user's current profile at the upstream. The gateway owns the upstream tokens,
/// so it is the one that uses them. An expired upstream access token is refreshed first, once
/// at a time per identity across all gateway instances: the upstream token row stays locked
/// (`FOR UPDATE`) from the read to the write of the refreshed tokens, so a concurrent request
/// waits and then finds the fresh token.
///
/// `POST /internal/upstream-token` (for the tool host, when a proxied tenant hands its MCP server
/// the user's upstream access token): the same current, refreshed-when-expired token itself,
/// `{"access_token": ..., "expires_in": ...}`, answered `no-store`.
///
/// Body `{"tenant": "...", "user_id": "..."}`, bearer `GATEHOUSE_INTERNAL_TOKEN`. Answers the
/// profile (`subject`, `email`, `email_verified`, `name`), 404 for an unknown identity, 409
/// `upstream_grant_revoked` when the upstream refused the refresh, 503 when it is unreachable.
package enum UpstreamProfileRoutes {
    struct Query: Decodable {
        var tenant: String
        var userId: String
    }

    struct Profile: Encodable {
        var subject: String
        var email: String?
        var emailVerified: Bool
        var name: String?
    }

    struct UpstreamAccessTokenAnswer: Encodable {
        var accessToken: String
        var expiresIn: Int?
    }

    package static func add(to router: Router<GatehouseRequestContext>, parts: GatewayService.Parts, internalToken: OperatorToken?) {
        let group = router.group("/internal").add(middleware: OperatorAuthMiddleware(token: internalToken))
        group.post("/upstream-profile") { request, context in
            let query = try await decode(request)
            return try await current(query, parts: parts, context: context) { tokens, upstream, issuer in
                let identity = try await parts.upstream.identity(tokens: tokens, upstream: upstream, issuer: issuer)
                return try JSONBody.response(
                    Profile(subject: identity.subject, email: identity.email, emailVerified: identity.emailVerified, name: identity.name)
                )
            }
        }
        group.post("/upstream-token") { request, context in
            let query = try await decode(request)
            return try await current(query, parts: parts, context: context) { tokens, _, _ in
                var response = try JSONBody.response(UpstreamAccessTokenAnswer(accessToken: tokens.accessToken.revealed, expiresIn: tokens.expiresIn))
                response.headers[.cacheControl] = "no-store"
                return response
            }
        }
    }

    static func decode(_ request: Request) async throws -> Query {
        let body = try await request.body.collect(upTo: 4096)
        guard let query = try? JSONBody.decoder().decode(Query.self, from: Data(String(buffer: body).utf8)) else {
            throw APIError.invalidRequest("The body must be {\"tenant\": ..., \"user_id\": ...}")
        }
        return query
    }

    /// The identity's current upstream tokens (refreshed when expired), given to `answer` with the
    /// effective upstream configuration and its issuer; upstream and storage failures mapped.
    static func current(
        _ query: Query,
        parts: GatewayService.Parts,
        context: GatehouseRequestContext,
        answer: (UpstreamTokens, UpstreamConfiguration, String) async throws -> Response
    ) async throws -> Response {
        let record = try await APIError.mappingInfrastructureFailures(context.logger, "Tenant lookup failed") {
            try await parts.tenants.record(query.tenant)
        }
        guard let record, let upstream = record.tenant.upstream else {
            throw APIError.notFound("No such tenant or upstream")
        }
        let issuer = CallbackRoutes.issuer(of: upstream)
        do {
            var effective = upstream
            if upstream.kind == .oidc, let oidcIssuer = upstream.issuer {
                let metadata = try await parts.oidc.metadata(issuer: oidcIssuer)
                effective.tokenEndpoint = upstream.tokenEndpoint ?? metadata.tokenEndpoint
                effective.userEndpoint = metadata.userinfoEndpoint
            }
            let secret = try parts.tenants.clientSecret(of: record)
            let endpoints = effective
            guard
                let tokens = try await parts.upstreamTokens.current(
                    userId: query.userId,
                    tenant: query.tenant,
                    keyRing: parts.keyRing,
                    refresh: {
                        context.logger.info(
                            "Refreshing an expired upstream token",
                            metadata: ["tenant": "\(query.tenant)", "user_id": "\(query.userId)"]
                        )
                        return try await parts.upstream.refresh($0, upstream: endpoints, clientSecret: secret)
                    }
                )
            else {
                throw APIError.notFound("No upstream tokens for this identity")
            }
            return try await answer(tokens, effective, issuer)
        } catch {
            // Errors from inside the transaction arrive wrapped.
            switch PostgresFailure.underlying(error) {
            case UpstreamFailure.grantRevoked:
                context.logger.notice("The upstream revoked the user's grant", metadata: ["tenant": "\(query.tenant)", "user_id": "\(query.userId)"])
                throw APIError(.conflict, code: .upstreamGrantRevoked, "The upstream no longer accepts this user's grant")
            case let error as APIError:
                throw error
            default:
                context.logger.error("Upstream tokens unavailable", metadata: ["tenant": "\(query.tenant)", "error": "\(error)"])
                throw APIError.temporarilyUnavailable
            }
        }
    }
}

/// The gateway's sealed upstream tokens, used for fresh profiles.
package struct UpstreamTokenStore: Sendable {
    package let client: PostgresClient
    package let schema: SchemaName
    package let logger: Logger

    /// Upstream access tokens this close to expiry are refreshed before use.
    static let expiryMargin: TimeInterval = 30

    static func accessData(_ userId: String) -> String { "gatehouse/upstream-access-token/\(userId)" }
    static func refreshData(_ userId: String) -> String { "gatehouse/upstream-refresh-token/\(userId)" }

    /// The identity's current upstream tokens; when the access token has expired, `refresh` is
    /// called with the upstream refresh token while the row is locked, and its answer stored
    /// (keeping the old refresh token when the upstream returns none). nil: no such identity.
    func current(
        userId: String,
        tenant: String,
        keyRing: KeyRing,
        refresh: @Sendable (UpstreamToken) async throws -> UpstreamTokens
    ) async throws -> UpstreamTokens? {
        try await client.withTransaction(logger: logger) { connection -> UpstreamTokens? in
            let rows = try await connection.query(
                """
                SELECT access_token, refresh_token, expires_at FROM \(schema).upstream_tokens
                WHERE user_id = \(userId) AND tenant_id = \(tenant) FOR UPDATE
                """,
                logger: logger
            )
            var found: (String, String?, Date?)?
            for try await row in rows.decode((String, String?, Date?).self) { found = row }
            guard let (sealedAccess, sealedRefresh, expiresAt) = found else { return nil }
            let open = { (sealed: String, data: String) throws -> UpstreamToken in
                UpstreamToken(String(decoding: try keyRing.open(sealed, associatedData: data), as: UTF8.self))
            }
            let refreshToken = try sealedRefresh.map { try open($0, Self.refreshData(userId)) }
            let remaining = expiresAt.map { max(0, Int($0.timeIntervalSinceNow)) }
            guard let expiresAt, expiresAt.timeIntervalSinceNow < Self.expiryMargin else {
                return UpstreamTokens(
                    accessToken: try open(sealedAccess, Self.accessData(userId)),
                    refreshToken: refreshToken,
                    expiresIn: remaining,
                    idToken: nil
                )
            }
            guard let refreshToken else { throw UpstreamFailure.grantRevoked }
            let fresh = try await refresh(refreshToken)
            let newAccess = try keyRing.seal(Array(fresh.accessToken.revealed.utf8), associatedData: Self.accessData(userId))
            let newRefresh = try fresh.refreshToken.map { try keyRing.seal(Array($0.revealed.utf8), associatedData: Self.refreshData(userId)) }
            let newExpiry = fresh.expiresIn.map { Date().addingTimeInterval(TimeInterval($0)) }
            try await connection.query(
                """
                UPDATE \(schema).upstream_tokens
                SET access_token = \(newAccess), refresh_token = coalesce(\(newRefresh), refresh_token), expires_at = \(newExpiry),
                    updated_at = now()
                WHERE user_id = \(userId)
                """,
                logger: logger
            )
            return fresh
        }
    }
}
