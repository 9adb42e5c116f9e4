import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import Hummingbird
import Logging

/// The client credentials grant (RFC 6749 §4.4; the MCP authorization extension), where the
/// tenant offers it: a confidential client the operator registered authenticates as itself
/// (`client_secret_basic`, or `private_key_jwt` with a single-use assertion) and receives an
/// access token for the tenant's MCP resource, held by a service principal (the client; no end
/// user). No refresh token (§4.4.3): the client asks again when it needs a new token.
extension TokenEndpoint {
    func issueToServicePrincipal(_ request: TokenRequest) async throws -> Response {
        let (form, presented, tenant, origin, proof, context) = (
            request.form, request.presented, request.tenant, request.origin, request.proof, request.context
        )
        guard tenant.grants.clientCredentials else {
            throw OAuthError.unsupportedGrantType("This authorization server does not offer client_credentials")
        }
        let registered = try await infrastructure(context) { try await store.registeredClient(presented.clientId, tenant: tenant.id) }
        let client = try await authenticateServiceClient(presented, registered: registered, tenant: tenant, origin: origin, context: context)
        guard client.grantTypes.contains("client_credentials") else {
            throw OAuthError.unauthorizedClient("The client is not registered for client_credentials")
        }
        let scopes = try ServicePrincipalScopes.granted(requested: form["scope"], registered: client.scope)
        if let resource = form["resource"], resource != origin.mcpResource {
            throw OAuthError.invalidTarget("resource must be this tenant's MCP server, \(origin.mcpResource)")
        }
        let profile = tenant.clientProfiles.profile(for: presented.clientId.rawValue)
        let tokens = MintedTokens(scopes: scopes, accessSeconds: profile.accessTokenSeconds ?? tenant.accessTokenSeconds, refreshSeconds: nil)
            .bound(to: proof?.thumbprint)
        let grantId = try await infrastructure(context) {
            try await store.issueToServicePrincipal(tenant: tenant.id, client: client, tokens: tokens, resource: origin.mcpResource)
        }
        context.logger.info(
            "Tokens issued to a service principal",
            metadata: ["tenant": "\(tenant.id)", "client_id": "\(client.clientId)", "grant_id": "\(grantId)"]
        )
        return try Self.response(tokens)
    }

    /// A shared secret (as `RegisteredClient.authenticate` checks it) or a client assertion:
    /// signed by one of the client's keys, for this authorization server, and never seen
    /// before (its `jti` is recorded until it expires, on every instance alike).
    private func authenticateServiceClient(
        _ presented: PresentedClient,
        registered: RegisteredClient?,
        tenant: TokenTenant,
        origin: PublicOrigin,
        context: TokenRequestContext
    ) async throws -> RegisteredClient {
        guard case .privateKeyJWT(let assertion) = presented.method else {
            guard presented.method != .none else {
                throw OAuthError.invalidClient("client_credentials is for confidential clients: authenticate the client", basic: false)
            }
            let policy = tenant.clientProfiles.profile(for: presented.clientId.rawValue).clientAuthentication ?? .anySecretMethod
            try RegisteredClient.authenticate(presented, as: registered, policy: policy)
            return registered!
        }
        guard let registered, !registered.disabled, registered.tokenEndpointAuthMethod == "private_key_jwt", let keys = registered.keys else {
            throw OAuthError.invalidClient("Client authentication failed", basic: false)
        }
        let verified: ClientAssertion.Verified
        do {
            verified = try await ClientAssertion.verify(
                assertion,
                clientId: registered.clientId.rawValue,
                keys: keys,
                audiences: Self.assertionAudiences(origin)
            )
        } catch {
            throw OAuthError.invalidClient(error.description, basic: false)
        }
        let first = try await infrastructure(context) {
            try await store.recordAssertion(tenant: tenant.id, client: registered.clientId, jti: verified.jti, expiresAt: verified.expiresAt)
        }
        guard first else { throw OAuthError.invalidClient("The client assertion was presented before (jti)", basic: false) }
        return registered
    }

    /// What a client assertion's `aud` may name (RFC 7523 §3; its revision asks for the issuer):
    /// the issuer (also as the URL with its empty path written `/`, which some clients' URL
    /// types produce) or the token endpoint, at either of its paths.
    static func assertionAudiences(_ origin: PublicOrigin) -> Set<String> {
        [origin.issuer, origin.issuer + "/", origin.url("/oauth/token"), origin.url("/token")]
    }
}

/// The scopes a service principal gets (pure): all its registered scopes when it asks for none;
/// otherwise those it asks for that are registered for it. A scope this server knows but the
/// client may not hold (`email`, which MCP clients take from the resource's challenge) is left
/// out, as RFC 6749 §3.3 allows, and the response's `scope` says what was granted; a scope
/// nobody here knows, or nothing left, is `invalid_scope`.
enum ServicePrincipalScopes {
    static func granted(requested: String?, registered: String?) throws(APIError) -> [String] {
        let allowed = (registered ?? "").split(separator: " ").map(String.init)
        guard let requested else {
            guard !allowed.isEmpty else { throw OAuthError.invalidScope("The client has no scopes registered") }
            return allowed
        }
        let asked = requested.split(separator: " ").map(String.init)
        guard !asked.isEmpty else { throw OAuthError.invalidScope("scope is empty") }
        if let unknown = asked.first(where: { !OAuthScopes.supported.contains($0) }) {
            throw OAuthError.invalidScope("Unknown scope \(unknown)")
        }
        var seen: Set<String> = []
        let granted = asked.filter { allowed.contains($0) && seen.insert($0).inserted }
        guard !granted.isEmpty else {
            throw OAuthError.invalidScope("The client is registered for none of the requested scopes (it has: \(allowed.joined(separator: " ")))")
        }
        return granted
    }
}
