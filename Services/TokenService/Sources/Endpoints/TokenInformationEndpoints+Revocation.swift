import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `/oauth/revoke` (RFC 7009).
extension TokenInformationEndpoints {
    /// The client must authenticate as registered. Its own access token → only that token; its
    /// own refresh token → the whole grant. Unknown, foreign or malformed tokens → 200 and
    /// nothing revoked (RFC 7009 §2.2), so the endpoint says nothing about other clients' tokens.
    func revoke(_ request: Request, _ context: TokenRequestContext) async throws -> Response {
        let tenant = context.tenant
        let address = context.clientAddress(of: request) ?? "unknown"
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
                policy: tenant.clientProfiles.profile(for: presented.clientId.rawValue).clientAuthentication ?? .anySecretMethod
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
}
