import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `/oauth/introspect` (RFC 7662), for the tenant's resource servers.
extension TokenInformationEndpoints {
    /// Callers authenticate as a configured resource server (Basic or form). Active access
    /// tokens of this tenant are described; everything else is exactly `{"active": false}`.
    ///
    /// The caller is authenticated before anything of the body is judged: a stranger learns 401
    /// and nothing else. Failed authentications count against the caller's address, and an
    /// address over its failure budget is refused (429) before its credentials are checked.
    func introspect(_ request: Request, _ context: TokenRequestContext) async throws -> Response {
        let (tenant, origin) = (context.tenant, context.origin)
        let address = context.clientAddress(of: request) ?? "unknown"
        try guardrails.admitUnlessFailing(address: address)
        var form: [String: String]?
        var bodyProblem: (any Error)?
        do { form = try await TokenEndpoint.form(of: request) } catch { bodyProblem = error }
        let presented = try? PresentedClient.read(authorization: request.headers[.authorization], form: form ?? [:])
        guard let presented, let secret = presented.secret, let hash = configuration.resourceServers[presented.clientId.rawValue],
            secret.matches(hash: hash)
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
        guard let active, active.tenant == tenant.id.rawValue else { return try Self.noStore(JSONBody.response(["active": false])) }
        var description = JSONObjectWriter()
        description.add("active", true)
        // A service principal's subject is its client id (as RFC 9068 §2.2 has it).
        description.add("sub", active.userId ?? active.clientId)
        description.add("client_id", active.clientId)
        description.add("scope", active.scopes.joined(separator: " "))
        description.add("exp", Int(active.expiresAt.timeIntervalSince1970))
        description.add("iat", Int(active.issuedAt.timeIntervalSince1970))
        description.add("aud", active.resource)
        description.add("iss", origin.issuer)
        description.add("token_type", active.dpopThumbprint == nil ? "Bearer" : "DPoP")
        description.add("email", active.email)
        description.add("email_verified", active.emailVerified)
        description.add("name", active.name)
        // Our extension: the grant, so a resource server's cache can drop every token of a
        // grant when `token.revoked` names it.
        description.add("grant_id", active.grantId)
        // And whom the token speaks for: a person, or a service (client credentials).
        description.add("principal_type", active.userId == nil ? "service" : "user")
        // RFC 9449 §6.2: the key a DPoP-bound token is bound to.
        if let thumbprint = active.dpopThumbprint {
            var confirmation = JSONObjectWriter()
            confirmation.add("jkt", thumbprint)
            description.add("cnf", confirmation)
        }
        return description.response()
    }
}
