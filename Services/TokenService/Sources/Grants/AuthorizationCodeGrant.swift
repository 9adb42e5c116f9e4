import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import Hummingbird
import Logging

/// The authorization code grant (OAuth 2.1 §4.1.3): the sealed code is opened with the shared
/// key ring (nothing is asked of the gateway or Kafka), checked against its binding, and
/// redeemed once.
extension TokenEndpoint {
    func redeemCode(_ request: TokenRequest) async throws -> Response {
        let (form, presented, tenant, proof, context) = (request.form, request.presented, request.tenant, request.proof, request.context)
        guard let code = form["code"].map(AuthorizationCode.init) else { throw OAuthError.invalidRequest("code is required") }
        guard let redirectUri = form["redirect_uri"] else { throw OAuthError.invalidRequest("redirect_uri is required") }
        let binding: CodeBinding
        do {
            binding = try SealedCode.open(code.revealed, tenant: tenant.id.rawValue, keyRing: configuration.keyRing)
        } catch SealedCode.Failure.expired {
            throw OAuthError.invalidGrant("The authorization code has expired")
        } catch {
            throw OAuthError.invalidGrant("The authorization code is not valid")
        }
        let codeHash = code.hash
        let projected = try await infrastructure(context) { try await store.registeredClient(presented.clientId, tenant: tenant.id) }
        // A client registered a moment ago may not be projected yet: the code carries its credentials.
        let registered =
            projected
            ?? (presented.clientId.rawValue == binding.clientId
                ? RegisteredClient(
                    clientId: ClientID(binding.clientId),
                    tokenEndpointAuthMethod: binding.client.tokenEndpointAuthMethod,
                    secretHash: binding.client.secretHash,
                    grantTypes: binding.client.grantTypes,
                    disabled: false
                )
                : nil)
        let profile = tenant.clientProfiles.profile(for: presented.clientId.rawValue)
        try RegisteredClient.authenticate(presented, as: registered, policy: profile.clientAuthentication ?? .anySecretMethod)
        guard let registered else { throw OAuthError.invalidClient("Client authentication failed", basic: false) }

        // The code was opened: a wrong client, redirect URI, resource or verifier is a failed
        // attempt, counted against the code (a few burn it).
        func failed(_ error: APIError) async throws -> Never {
            let failures = try await infrastructure(context) { try await store.recordFailure(codeHash: codeHash, binding: binding) }
            context.logger.info("Code redemption failed", metadata: ["tenant": "\(tenant.id)", "failures": "\(failures)", "error": "\(error.code)"])
            throw error
        }
        if binding.clientId != presented.clientId.rawValue { try await failed(OAuthError.invalidGrant("The code was issued to another client")) }
        if binding.redirectUri != redirectUri { try await failed(OAuthError.invalidGrant("redirect_uri differs from the authorization request")) }
        if let resource = form["resource"], resource != binding.resource {
            try await failed(OAuthError.invalidTarget("resource differs from the authorization request"))
        }
        switch (form["code_verifier"], binding.codeChallenge.isEmpty) {
        case (nil, false): try await failed(OAuthError.invalidRequest("code_verifier is required"))
        case (.some, true): try await failed(OAuthError.invalidGrant("The code was not bound to a code_challenge"))
        case (let verifier?, false) where !PKCE.verify(verifier: verifier, challenge: binding.codeChallenge):
            try await failed(OAuthError.invalidGrant("code_verifier does not match the code_challenge"))
        default: break
        }
        guard registered.grantTypes.contains("authorization_code") else {
            throw OAuthError.unauthorizedClient("The client is not registered for authorization_code")
        }

        let issuesRefresh = registered.grantTypes.contains("refresh_token")
        // With a DPoP proof, the grant (its access and refresh tokens) is bound to its key.
        let tokens = MintedTokens(
            scopes: binding.scopes,
            accessSeconds: profile.accessTokenSeconds ?? tenant.accessTokenSeconds,
            refreshSeconds: issuesRefresh ? tenant.refreshTokenSeconds : nil
        ).bound(to: proof?.thumbprint)
        let outcome = try await infrastructure(context) {
            try await store.redeem(
                codeHash: codeHash,
                binding: binding,
                client: registered,
                tokens: tokens,
                failureLimit: configuration.codeFailureLimit
            )
        }
        guard case .issued(let grantId) = outcome else {
            try await infrastructure(context) { try await store.revokeGrantOfReplayedCode(codeHash: codeHash) }
            context.logger.warning(
                "Authorization code presented again; its grant is revoked",
                metadata: [
                    "tenant": "\(tenant.id)",
                    "client_id": "\(binding.clientId)",
                ]
            )
            throw OAuthError.invalidGrant("The authorization code was already used")
        }
        context.logger.info(
            "Tokens issued",
            metadata: [
                "tenant": "\(tenant.id)", "client_id": "\(binding.clientId)",
                "user_id": "\(binding.userId)", "grant_id": "\(grantId)",
            ]
        )
        return try Self.response(tokens)
    }
}
