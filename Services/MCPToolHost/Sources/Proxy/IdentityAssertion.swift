import Foundation
import GatehouseCrypto
import GatehouseOAuth
import JWTKit
import Synchronization

/// What a tenant's own MCP server learns about the caller of a proxied request: a JWT signed
/// (ES256) with the tenant's key, whose `kid` is in the tenant's JWKS. It names the user, the
/// client and the scopes of the validated access token, and the profile claims those scopes
/// allow (`email` and `email_verified` with `email`, `name` with `profile`); it is addressed to
/// the upstream URL and lives at most five minutes, never longer than the token.
struct IdentityAssertion: JWTPayload, Equatable {
    static let maximumLifetime: TimeInterval = 300

    var iss: IssuerClaim
    var aud: AudienceClaim
    var sub: SubjectClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var clientId: String
    var scope: String
    var email: String?
    var emailVerified: Bool?
    var name: String?

    enum CodingKeys: String, CodingKey {
        case iss, aud, sub, iat, exp, jti, scope, email, name
        case clientId = "client_id"
        case emailVerified = "email_verified"
    }

    init(principal: Principal, issuer: String, audience: String, now: Date = Date()) {
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        var expiry = issuedAt.addingTimeInterval(Self.maximumLifetime)
        if let tokenExpiry = principal.expiresAt, tokenExpiry < expiry { expiry = max(issuedAt.addingTimeInterval(1), tokenExpiry) }
        iss = IssuerClaim(value: issuer)
        aud = AudienceClaim(value: [audience])
        sub = SubjectClaim(value: principal.userId)
        iat = IssuedAtClaim(value: issuedAt)
        exp = ExpirationClaim(value: expiry)
        jti = IDClaim(value: SecretGenerator.generate(prefix: "", bytes: 16))
        clientId = principal.clientId
        scope = principal.scopes.sorted().joined(separator: " ")
        if principal.scopes.contains("email"), let address = principal.email {
            email = address
            emailVerified = principal.emailVerified
        }
        if principal.scopes.contains("profile") { name = principal.name }
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs identity assertions with each tenant's current key.
final class AssertionSigner: Sendable {
    let keys: IdentityAssertionKeys
    /// One key collection per tenant (for its current key), so a tenant's key is set up once;
    /// held under a lock, not an actor, so signing costs no extra hop.
    private let collections = Mutex<[String: (kid: String, collection: JWTKeyCollection)]>([:])

    init(keys: IdentityAssertionKeys) { self.keys = keys }

    func sign(_ assertion: IdentityAssertion, tenant: String) async throws -> String {
        let key = keys.signingKey(tenant: tenant)
        let collection: JWTKeyCollection
        if let known = collections.withLock({ $0[tenant] }), known.kid == key.kid {
            collection = known.collection
        } else {
            collection = JWTKeyCollection()
            await collection.add(ecdsa: try ES256PrivateKey(backing: key.privateKey), kid: JWKIdentifier(string: key.kid))
            collections.withLock { $0[tenant] = (key.kid, collection) }
        }
        return try await collection.sign(assertion, kid: JWKIdentifier(string: key.kid), header: ["typ": "JWT"])
    }
}
