import GatehouseOAuth
import GatehouseRuntime

/// What every grant works from: the request's form, the client it presents, its DPoP proof
/// (verified and recorded, where the tenant accepts DPoP), and the tenant and origin it is for.
struct TokenRequest {
    var form: [String: String]
    var presented: PresentedClient
    var proof: DPoPProof.Verified?
    var context: TokenRequestContext

    var tenant: TokenTenant { context.tenant }
    var origin: PublicOrigin { context.origin }
}
