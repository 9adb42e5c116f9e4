import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes
import Hummingbird

/// DPoP at the token endpoint (RFC 9449 §5), where the tenant accepts it: the request's proof,
/// for `POST` to this endpoint's URL, verified and recorded so that it is never accepted twice.
/// The grants bind what they issue to its key.
extension TokenEndpoint {
    func dpopProof(_ request: Request, tenant: TokenTenant, origin: PublicOrigin, context: TokenRequestContext) async throws -> DPoPProof.Verified? {
        guard tenant.grants.dpop else { return nil }
        let proofs = request.headers[values: .dpop]
        guard let proof = proofs.first else { return nil }
        guard proofs.count == 1 else { throw OAuthError.invalidDPoPProof("Send one DPoP header") }
        let verified: DPoPProof.Verified
        do {
            verified = try await DPoPProof.verify(proof, method: "POST", url: origin.url(request.uri.path))
        } catch {
            throw OAuthError.invalidDPoPProof(error.description)
        }
        // Where the tenant asks for nonces (§8): one this service handed out, or a new one to use.
        if tenant.grants.requiresDPoPNonce, !configuration.dpopNonces.accepts(verified.nonce) {
            throw APIError(
                .badRequest,
                code: .useDPoPNonce,
                "Sign the DPoP proof again with the nonce in the DPoP-Nonce header",
                headers: [.dpopNonce: configuration.dpopNonces.current()]
            )
        }
        guard try await infrastructure(context, { try await store.recordProof(verified) }) else {
            throw OAuthError.invalidDPoPProof("The DPoP proof was presented before (jti)")
        }
        return verified
    }
}
