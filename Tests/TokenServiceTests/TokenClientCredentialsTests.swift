import Crypto
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import PostgresNIO
import ServiceFixtures
import Testing
import TokenService

/// The client credentials grant (RFC 6749 §4.4) with `client_secret_basic` and `private_key_jwt`
/// (RFC 7523): tokens for a service principal, and every way a request for one is refused.
@Suite("Token service: client credentials")
struct TokenClientCredentialsTests {
    static let issuer = "https://acme.example"
    static let on = TenantGrants(clientCredentials: true)

    /// A client's P-256 signing key, its public JWK, and assertions signed with it by jwt-kit.
    struct SigningKey {
        let key = P256.Signing.PrivateKey()
        let kid: String

        init(kid: String = "k1") { self.kid = kid }

        var publicJWK: [String: String] {
            let raw = Array(key.publicKey.rawRepresentation)
            return [
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                "x": Base64URL.encode(Array(raw[0..<32])), "y": Base64URL.encode(Array(raw[32..<64])),
            ]
        }

        var keySet: ClientKeySet { ClientKeySet(keys: [publicJWK]) }

        func sign(_ claims: AssertionClaims, kid: String? = nil) async throws -> String {
            let keys = JWTKeyCollection()
            await keys.add(ecdsa: try ES256PrivateKey(backing: key), kid: JWKIdentifier(string: kid ?? self.kid))
            return try await keys.sign(claims, kid: JWKIdentifier(string: kid ?? self.kid))
        }
    }

    /// The claims of a client assertion, each settable to what a test needs (nil: left out).
    struct AssertionClaims: JWTPayload {
        var iss: String?
        var sub: String?
        var aud: String?
        var exp: Int?
        var nbf: Int?
        var iat: Int?
        var jti: String?

        /// A good assertion of `client` for the tenant's issuer.
        init(client: String, audience: String = TokenClientCredentialsTests.issuer, lifetime: Int = 120) {
            let now = Int(Date().timeIntervalSince1970)
            iss = client
            sub = client
            aud = audience
            exp = now + lifetime
            iat = now
            jti = UUID().uuidString
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func assertionFields(_ assertion: String, clientId: String? = nil) -> [(String, String)] {
        var fields = [("grant_type", "client_credentials"), ("client_assertion_type", ClientAssertion.type), ("client_assertion", assertion)]
        if let clientId { fields.append(("client_id", clientId)) }
        return fields
    }

    @Test("client_secret_basic: a token for the tenant's MCP resource held by the client itself, no refresh token, announced without a user")
    func secretBasic() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.on)
            let client = try await fixture.serviceClient()
            try await fixture.application().test(.live) { http in
                let issued = try await http.form("/oauth/token", [("grant_type", "client_credentials")], headers: http.basic(client))
                #expect(issued.status == .ok, "\(issued.body)")
                let json = issued.json
                #expect(json["token_type"] as? String == "Bearer" && json["scope"] as? String == "mcp:tools")
                #expect(json["refresh_token"] == nil)
                let access = try #require(json["access_token"] as? String)
                // MCP clients ask for the scopes of the resource's challenge, some of which speak of
                // a person: those are left out, and the answer says what was granted.
                let challenged = try await http.form(
                    "/oauth/token",
                    [("grant_type", "client_credentials"), ("scope", "mcp:tools email")],
                    headers: http.basic(client)
                )
                #expect(challenged.status == .ok && challenged.json["scope"] as? String == "mcp:tools", "\(challenged.body)")

                let described = try await http.introspect(access).json
                #expect(described["active"] as? Bool == true)
                #expect(described["sub"] as? String == client.id && described["client_id"] as? String == client.id)
                #expect(described["principal_type"] as? String == "service")
                #expect(described["aud"] as? String == "https://acme.example/mcp" && described["email"] == nil)

                // No person behind it: userinfo has nothing to say (403, not a token error).
                let userinfo = try await http.execute(
                    uri: "/oauth/userinfo",
                    method: .get,
                    headers: [.authorization: "Bearer \(access)", HTTPField.Name("X-Forwarded-Host")!: "acme.example"]
                )
                #expect(userinfo.status == .forbidden)
                #expect(userinfo.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)
            }
            let rows = try await fixture.client.query(
                "SELECT envelope FROM tokens.outbox WHERE event_type = 'token.issued'"
            )
            var events: [EventEnvelope<TokenIssued>] = []
            for try await text in rows.decode(String.self) { events.append(try EventCodec.decode(TokenIssued.self, from: Array(text.utf8))) }
            #expect(events.count == 2)
            #expect(events.allSatisfy { $0.payload.userId == nil && $0.payload.codeHash == nil && $0.payload.refreshFamilyId == nil })
            #expect(events.allSatisfy { $0.payload.grantType == "client_credentials" && $0.payload.clientId == client.id })
            #expect(events.allSatisfy { !String(describing: $0).contains("mcp_at_") })
        }
    }

    @Test("private_key_jwt: an assertion for the issuer (also written with /) or the token endpoint is accepted once, on any instance")
    func privateKeyJWT() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.on)
            let key = SigningKey()
            let client = try await fixture.serviceClient(method: "private_key_jwt", keys: key.keySet)
            try await fixture.application().test(.live) { first in
                try await fixture.application().test(.live) { second in
                    for audience in [Self.issuer, Self.issuer + "/", Self.issuer + "/oauth/token", Self.issuer + "/token"] {
                        let assertion = try await key.sign(AssertionClaims(client: client.id, audience: audience))
                        let issued = try await first.form("/oauth/token", Self.assertionFields(assertion, clientId: client.id))
                        #expect(issued.status == .ok && issued.json["access_token"] is String, "\(audience): \(issued.body)")
                        // The same assertion again, at another instance: a replay.
                        let replayed = try await second.form("/oauth/token", Self.assertionFields(assertion))
                        #expect(replayed.status == .unauthorized && replayed.json["error"] as? String == "invalid_client")
                        #expect((replayed.json["error_description"] as? String)?.contains("jti") == true)
                    }
                }
            }
            #expect(try await fixture.count("grants") == 4)
        }
    }

    enum BadAssertion: String, CaseIterable, CustomTestStringConvertible {
        case expired, livesTooLong, wrongAudience, anotherTenantsAudience, wrongKey, unknownKid, issuerIsNotSubject, noJTI, noExpiry
        case notYetValid, issuedInTheFuture, algorithmNone, notAJWT, wrongAssertionType, clientIdDiffers

        var testDescription: String { rawValue }
    }

    @Test("A bad client assertion is invalid_client (401) and issues nothing", arguments: BadAssertion.allCases)
    func badAssertions(_ bad: BadAssertion) async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.on)
            let key = SigningKey()
            let client = try await fixture.serviceClient(method: "private_key_jwt", keys: key.keySet)
            let now = Int(Date().timeIntervalSince1970)
            var claims = AssertionClaims(client: client.id)
            var fields: [(String, String)]? = nil
            switch bad {
            case .expired: claims.exp = now - 120
            case .livesTooLong: claims.exp = now + 3600
            case .wrongAudience: claims.aud = "https://elsewhere.example"
            case .anotherTenantsAudience: claims.aud = "https://globex.example"
            case .issuerIsNotSubject: claims.iss = "someone-else"
            case .noJTI: claims.jti = nil
            case .noExpiry: claims.exp = nil
            case .notYetValid: claims.nbf = now + 600
            case .issuedInTheFuture: claims.iat = now + 600
            case .wrongKey:
                fields = Self.assertionFields(try await SigningKey(kid: key.kid).sign(claims))
            case .unknownKid:
                fields = Self.assertionFields(try await SigningKey(kid: "k2").sign(claims))
            case .algorithmNone:
                let header = Base64URL.encode(Array(#"{"alg":"none","kid":"k1"}"#.utf8))
                let body = Base64URL.encode(Array(try JSONEncoder().encode(claims)))
                fields = Self.assertionFields("\(header).\(body).")
            case .notAJWT:
                fields = Self.assertionFields("not-a-jwt", clientId: client.id)
            case .wrongAssertionType:
                fields = [
                    ("grant_type", "client_credentials"), ("client_assertion_type", "urn:example:other"),
                    ("client_assertion", try await key.sign(claims)),
                ]
            case .clientIdDiffers:
                fields = Self.assertionFields(try await key.sign(claims), clientId: "mcp_client_other")
            }
            let request: [(String, String)]
            if let fields { request = fields } else { request = Self.assertionFields(try await key.sign(claims)) }
            try await fixture.application().test(.live) { http in
                let refused = try await http.form("/oauth/token", request)
                #expect(refused.status == .unauthorized, "\(refused.body)")
                #expect(refused.json["error"] as? String == "invalid_client")
            }
            #expect(try await fixture.count("grants") == 0)
        }
    }

    enum Refusal: String, CaseIterable, CustomTestStringConvertible {
        case grantOff, notRegisteredForIt, publicClient, wrongSecret, anotherTenantsClient, scopeNotRegistered, userScope, otherResource
        case privateKeyJWTForAuthorizationCode

        var testDescription: String { rawValue }
    }

    @Test("Every other refusal has its own OAuth error, and nothing is issued", arguments: Refusal.allCases)
    func refusals(_ refusal: Refusal) async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: refusal == .grantOff ? nil : Self.on)
            try await fixture.tenant("globex", grants: Self.on)
            let client = try await fixture.serviceClient()
            var request = [("grant_type", "client_credentials")]
            var headers = HTTPFields()
            let expected: (HTTPResponse.Status, String)
            switch refusal {
            case .grantOff:
                headers = TestClientBasic.basic(client)
                expected = (.badRequest, "unsupported_grant_type")
            case .notRegisteredForIt:
                let other = try await fixture.client(method: "client_secret_basic")
                headers = TestClientBasic.basic(other)
                expected = (.badRequest, "unauthorized_client")
            case .publicClient:
                let other = try await fixture.client()
                request.append(("client_id", other.id))
                expected = (.unauthorized, "invalid_client")
            case .wrongSecret:
                headers = TestClientBasic.basic(client.presenting(secret: "mcp_secret_wrong"))
                expected = (.unauthorized, "invalid_client")
            case .anotherTenantsClient:
                headers = TestClientBasic.basic(try await fixture.serviceClient(tenant: "globex"))
                expected = (.unauthorized, "invalid_client")
            case .scopeNotRegistered:
                headers = TestClientBasic.basic(client)
                request.append(("scope", "mcp:tools mcp:admin"))
                expected = (.badRequest, "invalid_scope")
            case .userScope:
                headers = TestClientBasic.basic(client)
                request.append(("scope", "email"))
                expected = (.badRequest, "invalid_scope")
            case .otherResource:
                headers = TestClientBasic.basic(client)
                request.append(("resource", "https://globex.example/mcp"))
                expected = (.badRequest, "invalid_target")
            case .privateKeyJWTForAuthorizationCode:
                let key = SigningKey()
                let signer = try await fixture.serviceClient(method: "private_key_jwt", keys: key.keySet)
                request = [
                    ("grant_type", "authorization_code"), ("code", try TokenFixture.code(for: signer)), ("redirect_uri", TokenFixture.redirect),
                    ("code_verifier", TokenFixture.verifier),
                    ("client_assertion_type", ClientAssertion.type),
                    ("client_assertion", try await key.sign(AssertionClaims(client: signer.id))),
                ]
                expected = (.unauthorized, "invalid_client")
            }
            try await fixture.application().test(.live) { [request, headers] http in
                let refused = try await http.form("/oauth/token", request, headers: headers)
                #expect(refused.status == expected.0, "\(refused.body)")
                #expect(refused.json["error"] as? String == expected.1)
                #expect(!refused.body.contains("mcp_secret_"))
            }
            #expect(try await fixture.count("grants") == 0)
        }
    }

    @Test("A service principal's token is revoked like any other: token.revoked names the client, no user")
    func revocation() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.on)
            let client = try await fixture.serviceClient()
            try await fixture.application().test(.live) { http in
                let access = try #require(
                    try await http.form("/oauth/token", [("grant_type", "client_credentials")], headers: http.basic(client)).json["access_token"]
                        as? String
                )
                #expect(try await http.form("/oauth/revoke", [("token", access)], headers: http.basic(client)).status == .ok)
                #expect(try await http.introspect(access).json["active"] as? Bool == false)
            }
            let rows = try await fixture.client.query("SELECT envelope FROM tokens.outbox WHERE event_type = 'token.revoked'")
            var revoked: [TokenRevoked] = []
            for try await text in rows.decode(String.self) {
                revoked.append(try EventCodec.decode(TokenRevoked.self, from: Array(text.utf8)).payload)
            }
            #expect(revoked.count == 1 && revoked.first?.userId == nil && revoked.first?.clientId == client.id)
        }
    }

    @Test(
        "Client key sets: public signing keys with their own kid only",
        arguments: [
            (["kty": "EC", "crv": "P-256", "kid": "a", "x": "AA", "y": "AA", "d": "AA"], "private member d"),
            (["kty": "oct", "kid": "a", "k": "c2VjcmV0"], "private member k"),
            (["kty": "EC", "crv": "P-384", "kid": "a", "x": "AA", "y": "AA"], "must be an RSA, EC P-256 or OKP Ed25519 key"),
            (["kty": "RSA", "kid": "a", "n": Base64URL.encode(Array(repeating: 0xC1, count: 128)), "e": "AQAB"], "at least 2048 bits"),
            (["kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"], "kid is required"),
            (["kty": "EC", "crv": "P-256", "kid": "a", "x": "AA", "y": "AA", "use": "enc"], "use must be sig"),
            (["kty": "EC", "crv": "P-256", "kid": "a", "x": "AA", "y": "AA", "alg": "RS256"], "alg must be ES256"),
            (["kty": "EC", "crv": "P-256", "kid": "a", "x": "AA", "y": "AA"], "not a usable public key"),
        ]
    )
    func keyRules(_ key: [String: String], _ problem: String) async throws {
        let error = await #expect(throws: ClientKeyRules.Problem.self) { try await ClientKeyRules.validate(ClientKeySet(keys: [key])) }
        #expect(error?.description.contains(problem) == true, "\(String(describing: error))")
        // A good key passes, and the same kid twice does not.
        let good = SigningKey().publicJWK
        try await ClientKeyRules.validate(ClientKeySet(keys: [good]))
        await #expect(throws: ClientKeyRules.Problem.self) { try await ClientKeyRules.validate(ClientKeySet(keys: [good, good])) }
    }
}

/// `TestClientProtocol.basic` without a client to call it on.
enum TestClientBasic {
    static func basic(_ client: TokenFixture.Client) -> HTTPFields {
        guard let secret = client.secret else { return [:] }
        return [.authorization: "Basic " + Data("\(client.id):\(secret)".utf8).base64EncodedString()]
    }
}
