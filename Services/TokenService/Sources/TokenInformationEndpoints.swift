import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `/oauth/revoke` (RFC 7009), `/oauth/introspect` (RFC 7662), `/oauth/userinfo` and
/// `/oauth/jwks`. Every answer is about tokens of the tenant the request is addressed to; a token
/// of another tenant is unknown here (docs/design.md invariant 7).
struct TokenInformationEndpoints: Sendable {
    let tenants: HostResolver<TokenTenant>
    let store: TokenStore
    let configuration: TokenServiceConfiguration
    let guardrails: RequestGuardrails
    let profiles: UpstreamProfileClient?

    // MARK: Revocation

    /// The client must authenticate as registered. Its own access token → only that token; its
    /// own refresh token → the whole grant. Unknown, foreign or malformed tokens → 200 and
    /// nothing revoked (RFC 7009 §2.2), so the endpoint says nothing about other clients' tokens.
    func revoke(_ request: Request, _ context: GatehouseRequestContext) async throws -> Response {
        let (tenant, _) = try await tenants.resolve(request, context)
        let address = configuration.origins.clientAddress(of: request, remoteAddress: context.remoteAddress) ?? "unknown"
        try guardrails.admit(address: address)
        let form = try await TokenEndpoint.form(of: request)
        guard let presented = try PresentedClient.read(authorization: request.headers[.authorization], form: form) else {
            throw OAuthError.invalidClient("Client authentication is required (client_id)", basic: false)
        }
        guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
        let hash = SecretHash.of(token)
        let refreshFirst = form["token_type_hint"] == "refresh_token"
        var found: (state: GrantState, isRefresh: Bool)?
        for isRefresh in refreshFirst ? [true, false] : [false, true] where found == nil {
            if isRefresh, token.hasPrefix(MintedTokens.refreshPrefix),
                let (state, _) = try await infrastructure(context, deadline: nil, { try await store.grant(ofRefreshHash: hash) })
            {
                found = (state, true)
            } else if !isRefresh, token.hasPrefix(MintedTokens.accessPrefix),
                let state = try await infrastructure(context, { try await store.grant(ofAccessHash: hash) })
            {
                found = (state, false)
            }
        }
        let own = found.flatMap { $0.state.tenant == tenant.id && $0.state.clientId == presented.clientId ? $0 : nil }
        do {
            var registered = own?.state.client
            if registered == nil {
                registered = try await infrastructure(context) { try await store.registeredClient(presented.clientId, tenant: tenant.id) }
            }
            try RegisteredClient.authenticate(
                presented,
                as: registered,
                policy: tenant.clientProfiles.profile(for: presented.clientId).clientAuthentication ?? .anySecretMethod
            )
        } catch let error as APIError where error.code == .invalidClient {
            guardrails.failed(address: address, client: presented.clientId)
            throw error
        }
        if let own, !own.state.revoked {
            if own.isRefresh {
                try await infrastructure(context) { try await store.revokeGrant(own.state.grantId, reason: "revoked_by_client") }
            } else {
                try await infrastructure(context) { try await store.revokeAccessToken(hash, of: own.state) }
            }
            context.logger.info(
                "Token revoked",
                metadata: [
                    "tenant": "\(tenant.id)", "client_id": "\(presented.clientId)",
                    "grant_id": "\(own.state.grantId)", "whole_grant": "\(own.isRefresh)",
                ]
            )
        }
        return Response(status: .ok, headers: [.cacheControl: "no-store"])
    }

    // MARK: Introspection

    /// Callers authenticate as a configured resource server (Basic or form). Active access
    /// tokens of this tenant are described; everything else is exactly `{"active": false}`.
    ///
    /// The caller is authenticated before anything of the body is judged: a stranger learns 401
    /// and nothing else. Failed authentications count against the caller's address, and an
    /// address over its failure budget is refused (429) before its credentials are checked.
    func introspect(_ request: Request, _ context: GatehouseRequestContext) async throws -> Response {
        let (tenant, origin) = try await tenants.resolve(request, context)
        let address = configuration.origins.clientAddress(of: request, remoteAddress: context.remoteAddress) ?? "unknown"
        try guardrails.admitUnlessFailing(address: address)
        var form: [String: String]?
        var bodyProblem: (any Error)?
        do { form = try await TokenEndpoint.form(of: request) } catch { bodyProblem = error }
        let presented = try? PresentedClient.read(authorization: request.headers[.authorization], form: form ?? [:])
        guard let presented, let secret = presented.secret, let hash = configuration.resourceServers[presented.clientId],
            SecretHash.matches(secret, hash: hash)
        else {
            guardrails.failed(address: address, client: presented?.clientId ?? "-")
            throw OAuthError.invalidClient(
                "Introspection is for authenticated resource servers",
                basic: request.headers[.authorization]?.lowercased().hasPrefix("basic") == true
            )
        }
        if let bodyProblem { throw bodyProblem }
        guard let form, let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
        var active: ActiveToken?
        if token.hasPrefix(MintedTokens.accessPrefix) {
            active = try await infrastructure(context, deadline: nil) { try await store.activeAccessToken(hash: SecretHash.of(token)) }
        }
        guard let active, active.tenant == tenant.id else { return try Self.noStore(JSONBody.response(["active": false])) }
        var description = JSONObjectWriter()
        description.add("active", true)
        description.add("sub", active.userId)
        description.add("client_id", active.clientId)
        description.add("scope", active.scopes.joined(separator: " "))
        description.add("exp", Int(active.expiresAt.timeIntervalSince1970))
        description.add("iat", Int(active.issuedAt.timeIntervalSince1970))
        description.add("aud", active.resource)
        description.add("iss", origin.issuer)
        description.add("token_type", "Bearer")
        description.add("email", active.email)
        description.add("email_verified", active.emailVerified)
        description.add("name", active.name)
        // Our extension: the grant, so a resource server's cache can drop every token of a
        // grant when `token.revoked` names it.
        description.add("grant_id", active.grantId)
        return description.response()
    }

    // MARK: UserInfo

    /// Bearer-authenticated (RFC 6750 header): our claims for the token's user, by scope: `email`
    /// gives `email` and `email_verified`, `profile` gives `name`. From the provisioned profile
    /// (or the login's, until provisioning has caught up); for a tenant that asks for fresh
    /// profiles, from the upstream through the gateway, which refreshes an expired upstream token
    /// once for all concurrent callers. An upstream that refuses the refresh ends our grant too
    /// (then 401). Never upstream tokens.
    func userinfo(_ request: Request, _ context: GatehouseRequestContext) async throws -> Response {
        let (tenant, origin) = try await tenants.resolve(request, context)
        let challenge = #"Bearer realm="\#(origin.issuer)""#
        guard let authorization = request.headers[.authorization], authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw APIError(.unauthorized, code: .invalidRequest, "A bearer token is required", headers: [.wwwAuthenticate: challenge])
        }
        let token = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
        var active: ActiveToken?
        if token.hasPrefix(MintedTokens.accessPrefix) {
            active = try await infrastructure(context, deadline: nil) { try await store.activeAccessToken(hash: SecretHash.of(token)) }
        }
        guard var active, active.tenant == tenant.id else {
            throw APIError(
                .unauthorized,
                code: .invalidToken,
                "The access token is not valid",
                headers: [.wwwAuthenticate: challenge + #", error="invalid_token""#]
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
                let fresh = try await profiles.profile(tenant: tenant.id, userId: active.userId)
                active.email = fresh.email
                active.emailVerified = fresh.emailVerified
                active.name = fresh.name
            } catch UpstreamProfileClient.Failure.grantRevoked {
                let grantId = active.grantId
                try await infrastructure(context) { try await store.revokeGrant(grantId, reason: "upstream_revoked") }
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
            sub: active.userId,
            email: scopes.contains("email") ? active.email : nil,
            email_verified: scopes.contains("email") ? active.emailVerified : nil,
            name: scopes.contains("profile") ? active.name : nil
        )
        return try Self.noStore(JSONBody.response(claims))
    }

    // MARK: Keys

    /// The public keys of what we sign. Gatehouse signs nothing yet (its tokens are opaque and
    /// introspected), so the set is empty; `kid`s will name keys when ID tokens are signed.
    func jwks(_ request: Request, _ context: GatehouseRequestContext) async throws -> Response {
        _ = try await tenants.resolve(request, context)
        var response = try JSONBody.response(["keys": [String]()])
        response.headers[.cacheControl] = "public, max-age=300"
        return response
    }

    static func noStore(_ response: Response) -> Response {
        var response = response
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
