import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `/oauth/userinfo` (OpenID Connect Core §5.3): claims by scope.
extension TokenInformationEndpoints {
    /// Bearer-authenticated (RFC 6750 header): our claims for the token's user, by scope: `email`
    /// gives `email` and `email_verified`, `profile` gives `name`. From the provisioned profile
    /// (or the login's, until provisioning has caught up); for a tenant that asks for fresh
    /// profiles, from the upstream through the gateway, which refreshes an expired upstream token
    /// once for all concurrent callers. An upstream that refuses the refresh ends our grant too
    /// (then 401). Never upstream tokens.
    func userinfo(_ request: Request, _ context: TokenRequestContext) async throws -> Response {
        let (tenant, origin) = (context.tenant, context.origin)
        let challenge = #"Bearer realm="\#(origin.issuer)""#
        guard let token = request.bearerToken else {
            throw APIError(.unauthorized, code: .invalidRequest, "A bearer token is required", headers: [.wwwAuthenticate: challenge])
        }
        var active: ActiveToken?
        if token.hasPrefix(MintedTokens.accessPrefix) {
            active = try await infrastructure(context, deadline: nil) { try await store.activeAccessToken(hash: SecretHash.of(token)) }
        }
        guard var active, active.tenant == tenant.id.rawValue else {
            throw APIError(
                .unauthorized,
                code: .invalidToken,
                "The access token is not valid",
                headers: [.wwwAuthenticate: challenge + #", error="invalid_token""#]
            )
        }
        // A service principal's token (client credentials) speaks for no person (RFC 6750 §3.1).
        guard let userId = active.userId else {
            throw APIError(
                .forbidden,
                code: .insufficientScope,
                "The access token was issued to a service principal, which has no user claims",
                headers: [.wwwAuthenticate: challenge + #", error="insufficient_scope""#]
            )
        }
        if tenant.freshUpstreamProfile {
            guard let profiles else {
                context.logger.error(
                    "Fresh upstream profiles need GATEHOUSE_GATEWAY_URL and GATEHOUSE_INTERNAL_TOKEN",
                    metadata: ["tenant": "\(tenant.id)"]
                )
                throw APIError.temporarilyUnavailable
            }
            do {
                let fresh = try await profiles.profile(tenant: tenant.id.rawValue, userId: userId)
                active.email = fresh.email
                active.emailVerified = fresh.emailVerified
                active.name = fresh.name
            } catch UpstreamProfileClient.Failure.grantRevoked {
                let grantId = active.grantId
                try await infrastructure(context) { try await store.revokeGrant(GrantID(grantId), reason: "upstream_revoked") }
                throw APIError(
                    .unauthorized,
                    code: .invalidToken,
                    "The sign-in provider ended this grant",
                    headers: [.wwwAuthenticate: challenge + #", error="invalid_token""#]
                )
            } catch {
                context.logger.error("Fresh upstream profile unavailable", metadata: ["tenant": "\(tenant.id)", "error": "\(error)"])
                throw APIError.temporarilyUnavailable
            }
        }
        struct Claims: Encodable {
            var sub: String
            var email: String?
            var email_verified: Bool?
            var name: String?
        }
        let scopes = Set(active.scopes)
        let claims = Claims(
            sub: userId,
            email: scopes.contains("email") ? active.email : nil,
            email_verified: scopes.contains("email") ? active.emailVerified : nil,
            name: scopes.contains("profile") ? active.name : nil
        )
        return try Self.noStore(JSONBody.response(claims))
    }
}
