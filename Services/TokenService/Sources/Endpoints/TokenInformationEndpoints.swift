import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `/oauth/revoke` (RFC 7009), `/oauth/introspect` (RFC 7662), `/oauth/userinfo` and
/// `/oauth/jwks`. Every answer is about tokens of the tenant the request is addressed to; a token
/// of another tenant is unknown here (docs/design.md invariant 7).
struct TokenInformationEndpoints: Sendable {
    let store: TokenStore
    let configuration: TokenServiceConfiguration
    let guardrails: RequestGuardrails
    let profiles: UpstreamProfileClient?

    // MARK: Keys

    /// The public keys of what the tenant signs: the identity assertions its own MCP server
    /// receives through the proxy (the signing key first, then the ones still verifying or
    /// about to sign). Access tokens are opaque and introspected, so they need no key.
    func jwks(_ request: Request, _ context: TokenRequestContext) async throws -> Response {
        let tenant = context.tenant
        let keys = configuration.assertionKeys?.publicJWKs(tenant: tenant.id.rawValue) ?? []
        var response = try JSONBody.response(["keys": keys])
        response.headers[.cacheControl] = "public, max-age=300"
        return response
    }

    static func noStore(_ response: Response) -> Response {
        var response = response
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
