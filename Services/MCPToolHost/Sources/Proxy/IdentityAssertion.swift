import Crypto
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseHTTP
import GatehouseOAuth

/// What a tenant's own MCP server learns about the caller of a proxied request: a JWT signed
/// (ES256) with the tenant's key, whose `kid` is in the tenant's JWKS. It names the user, the
/// client and the scopes of the validated access token, and the profile claims those scopes
/// allow (`email` and `email_verified` with `email`, `name` with `profile`); it is addressed to
/// the upstream URL and lives at most five minutes, never longer than the token.
struct IdentityAssertion: Equatable {
    static let maximumLifetime: TimeInterval = 300

    var issuer: String
    var audience: String
    var subject: String
    /// Whole seconds since 1970, as JWT's NumericDate.
    var issuedAt: Int
    var expiresAt: Int
    var id: String
    var clientId: String
    var scope: String
    var email: String?
    var emailVerified: Bool?
    var name: String?

    init(principal: Principal, issuer: String, audience: String, now: Date = Date()) {
        let issued = Int(now.timeIntervalSince1970.rounded(.down))
        var expiry = issued + Int(Self.maximumLifetime)
        if let tokenExpiry = principal.expiresAt.map({ Int($0.timeIntervalSince1970.rounded(.down)) }), tokenExpiry < expiry {
            expiry = max(issued + 1, tokenExpiry)
        }
        self.issuer = issuer
        self.audience = audience
        subject = principal.subject
        issuedAt = issued
        expiresAt = expiry
        id = SecretGenerator.generate(prefix: "", bytes: 16)
        clientId = principal.clientId.rawValue
        scope = principal.scopes.sorted().joined(separator: " ")
        if principal.scopes.contains("email"), let address = principal.email {
            email = address
            emailVerified = principal.emailVerified
        }
        if principal.scopes.contains("profile") { name = principal.name }
    }

    /// The claims as the JWT's payload (RFC 7519 §4.1 names; `aud` a single string).
    var json: String {
        var claims = JSONObjectWriter()
        claims.add("iss", issuer)
        claims.add("aud", audience)
        claims.add("sub", subject)
        claims.add("iat", issuedAt)
        claims.add("exp", expiresAt)
        claims.add("jti", id)
        claims.add("client_id", clientId)
        claims.add("scope", scope)
        claims.add("email", email)
        if let emailVerified { claims.add("email_verified", emailVerified) }
        claims.add("name", name)
        return claims.json
    }
}

/// Signs identity assertions with each tenant's current key: a compact JWS (RFC 7515) with
/// ES256 (RFC 7518 §3.4: the signature is R and S, 32 bytes each), written directly. Every
/// proxied request signs one, so nothing here encodes through `Codable` or waits on an actor.
final class AssertionSigner: Sendable {
    let keys: IdentityAssertionKeys

    init(keys: IdentityAssertionKeys) { self.keys = keys }

    func sign(_ assertion: IdentityAssertion, tenant: TenantID) throws -> String {
        let key = keys.signingKey(tenant: tenant.rawValue)
        var header = JSONObjectWriter()
        header.add("alg", "ES256")
        header.add("kid", key.kid)
        header.add("typ", "JWT")
        let input = Base64URL.encode(Array(header.json.utf8)) + "." + Base64URL.encode(Array(assertion.json.utf8))
        let signature = try key.privateKey.signature(for: Array(input.utf8))
        return input + "." + Base64URL.encode(Array(signature.rawRepresentation))
    }
}
