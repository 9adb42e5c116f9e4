import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import Hummingbird
import Logging

/// The refresh token grant (OAuth 2.1 §4.3): `RefreshRotation` decides, the store carries the
/// decision out as a compare-and-set on the grant row, and a lost race decides again on the
/// state the winner left.
extension TokenEndpoint {
    static let maximumRotationAttempts = 4

    func refresh(_ request: TokenRequest) async throws -> Response {
        let (form, presented, tenant, proof, context) = (request.form, request.presented, request.tenant, request.proof, request.context)
        guard let refreshToken = form["refresh_token"].map(RefreshToken.init) else { throw OAuthError.invalidRequest("refresh_token is required") }
        let requestedScopes = form["scope"].map { $0.split(separator: " ").map(String.init) }
        let presentedHash = refreshToken.hash
        let profile = tenant.clientProfiles.profile(for: presented.clientId.rawValue)
        let policy = profile.clientAuthentication ?? .anySecretMethod
        let grace = profile.refreshGraceSeconds.map { Duration.seconds($0) } ?? configuration.refreshGrace
        for _ in 0..<Self.maximumRotationAttempts {
            guard refreshToken.revealed.hasPrefix(MintedTokens.refreshPrefix),
                let (state, presentedGeneration) = try await infrastructure(
                    context,
                    deadline: nil,
                    { try await store.grant(ofRefreshHash: presentedHash) }
                ),
                state.tenant == tenant.id
            else {
                throw OAuthError.invalidGrant("The refresh token is not valid")
            }
            guard presented.clientId == state.clientId else {
                // Authenticate the caller as itself first: a stranger learns nothing but invalid_client.
                let caller = try await infrastructure(context) { try await store.registeredClient(presented.clientId, tenant: tenant.id) }
                try RegisteredClient.authenticate(presented, as: caller, policy: policy)
                throw OAuthError.invalidGrant("The refresh token was issued to another client")
            }
            try RegisteredClient.authenticate(presented, as: state.client, policy: policy)
            guard state.client.grantTypes.contains("refresh_token") else {
                throw OAuthError.unauthorizedClient("The client is not registered for refresh_token")
            }
            // RFC 8707 §2.2: a refresh may name the resource, which must be the grant's own.
            if let resource = form["resource"], resource != state.resource {
                throw OAuthError.invalidTarget("resource differs from the resource of the grant")
            }
            // A bound grant refreshes only with a proof of its key (RFC 9449 §5).
            if let bound = state.dpopThumbprint, proof?.thumbprint != bound {
                throw OAuthError.invalidDPoPProof(
                    proof == nil
                        ? "The refresh token is bound to a DPoP key: send a DPoP proof" : "The DPoP proof is not of the key the grant is bound to"
                )
            }
            let scopes = requestedScopes ?? state.scopes
            guard !scopes.isEmpty, Set(scopes).isSubset(of: state.scopes) else {
                throw OAuthError.invalidScope("The requested scope exceeds the scope of the grant")
            }

            let decision = RefreshRotation.decide(presentedHash: presentedHash, grant: state, grace: grace)
            let successor: (token: RefreshToken, generation: Int, keyID: String)
            switch decision {
            case .refused(.revoked):
                throw OAuthError.invalidGrant("The grant was revoked")
            case .refused(.expired):
                throw OAuthError.invalidGrant("The refresh token has expired")
            case .reuse:
                try await infrastructure(context) {
                    try await store.revokeGrant(state.grantId, reason: "refresh_token_reuse", reuse: (presentedGeneration, state.generation))
                }
                context.logger.warning(
                    "Refresh token reuse; the grant is revoked",
                    metadata: [
                        "tenant": "\(tenant.id)", "client_id": "\(state.clientId)", "grant_id": "\(state.grantId)",
                        "presented_generation": "\(presentedGeneration)", "current_generation": "\(state.generation)",
                    ]
                )
                throw OAuthError.invalidGrant("The refresh token was already used")
            case .rotate:
                let keyID = configuration.keyRing.currentKeyID
                let generation = state.generation + 1
                successor = (try deriveSuccessor(of: refreshToken, state, generation: generation, keyID: keyID), generation, keyID)
            case .repeatSuccessor:
                guard let keyID = state.refreshKeyID else {
                    // Rotated before successors were derived: there is no way back to that successor.
                    throw OAuthError.invalidGrant("The refresh token was already used")
                }
                successor = (try deriveSuccessor(of: refreshToken, state, generation: state.generation, keyID: keyID), state.generation, keyID)
            }
            let tokens = MintedTokens(
                scopes: scopes,
                accessSeconds: profile.accessTokenSeconds ?? tenant.accessTokenSeconds,
                refreshToken: successor.token,
                refreshExpiresAt: decision == .rotate ? Date().addingTimeInterval(TimeInterval(tenant.refreshTokenSeconds)) : state.refreshExpiresAt
            ).bound(to: state.dpopThumbprint)
            let rotation = try TokenStore.Rotation(
                state: state,
                presentedHash: presentedHash,
                repeatsSuccessor: decision == .repeatSuccessor,
                generation: successor.generation,
                keyID: successor.keyID,
                tokens: tokens,
                grace: grace
            )
            if try await infrastructure(context, deadline: nil, { try await store.rotate(rotation) }) {
                return try Self.response(tokens)
            }
            // Another request changed the grant between our read and our write: decide again on its new state.
        }
        context.logger.error("Refresh kept losing races", metadata: ["tenant": "\(tenant.id)"])
        throw APIError.temporarilyUnavailable
    }

    private func deriveSuccessor(of token: RefreshToken, _ state: GrantState, generation: Int, keyID: String) throws -> RefreshToken {
        guard
            let successor = RefreshSuccessor.derive(
                from: token,
                grantId: state.grantId.rawValue,
                generation: generation,
                keyRing: configuration.keyRing,
                keyID: keyID
            )
        else {
            // The key that derived the live token has been retired from the ring.
            throw OAuthError.invalidGrant("The refresh token was already used")
        }
        return successor
    }
}
