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
