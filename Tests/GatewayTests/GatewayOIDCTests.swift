import AsyncHTTPClient
import AuthorizationGateway
import Crypto
import CryptoExtras
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import ServiceFixtures
import Testing

/// OIDC upstreams: discovery, the ID token checked against the JWKS (alg, signature, iss, aud,
/// exp, nonce), userinfo's `sub`, and RFC 9207 `iss` in the authorization response.
@Suite("Gateway: OIDC upstream")
struct GatewayOIDCTests {
    typealias A = GatewayAuthorizeTests

    func signIn(_ fixture: GatewayFixture, _ oidc: FakeOIDC, issuer: String, client: some TestClientProtocol) async throws -> HTTPResult {
        let page = try await client.send(A.valid(try await clientId(fixture)), host: A.host)
        let form = try #require(A.form(page.body))
        let approved = try await client.send(
            "/oauth/consent",
            method: .post,
            host: A.host,
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: A.cookie(page)!],
            json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
        )
        let upstreamURL = try #require(approved.headers[.location])
        #expect(upstreamURL.hasPrefix("\(issuer)/authorize?"), "endpoint from discovery")
        #expect(A.location(approved)?.query["nonce"] != nil)
        let response = try await fixture.parts.upstream.http.execute(HTTPClientRequest(url: upstreamURL), timeout: .seconds(10))
        let back = try #require(response.headers.first(name: "Location"))
        return try await client.send(String(back.dropFirst("https://acme.example".count)), host: A.host, headers: [.cookie: A.cookie(page)!])
    }

    func clientId(_ fixture: GatewayFixture) async throws -> String {
        try await fixture.parts.clients.register(
            ClientMetadata(
                redirectUris: [A.redirect],
                tokenEndpointAuthMethod: "none",
                grantTypes: ["authorization_code"],
                responseTypes: ["code"],
                applicationType: "native"
            ),
            tenant: "acme",
            from: nil,
            unusedLifetime: .seconds(3600)
        ).clientId
    }

    func tenant(_ fixture: GatewayFixture, _ oidc: FakeOIDC, issuer: String) async throws {
        try await fixture.parts.tenants.create(
            TenantInput(
                id: "acme",
                displayName: "Acme",
                hosts: ["acme.example"],
                authMode: .oauth,
                upstream: .init(kind: .oidc, issuer: issuer, clientId: oidc.clientId),
                clientSecret: oidc.clientSecret
            )
        )
    }

    @Test("A complete OIDC login: endpoints from discovery, verified ID token, identity from its claims")
    func completeLogin() async throws {
        let oidc = FakeOIDC()
        try await oidc.run { issuer in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, oidc, issuer: issuer)
                try await fixture.application().test(.live) { client in
                    let done = try await signIn(fixture, oidc, issuer: issuer, client: client)
                    #expect(done.status == .seeOther)
                    let code = try #require(A.location(done)?.query["code"])
                    let binding = try SealedCode.open(code, tenant: "acme", keyRing: fixture.configuration.keyRing)
                    #expect(
                        binding.identity
                            == .init(issuer: issuer, subject: oidc.subject, email: "jane@example.org", emailVerified: true, name: "Jane Doe")
                    )
                    #expect(binding.userId == UserID.derive(tenant: "acme", issuer: issuer, subject: oidc.subject))
                }
                #expect(try await fixture.count("identities") == 1)
            }
        }
    }

    @Test(
        "An ID token or response that breaks a rule is refused: access_denied, nothing written",
        arguments: FakeOIDC.Misbehaviour.allCases.filter { $0 != .none }
    )
    func refused(_ misbehaviour: FakeOIDC.Misbehaviour) async throws {
        let oidc = FakeOIDC()
        oidc.misbehave(misbehaviour)
        try await oidc.run { issuer in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, oidc, issuer: issuer)
                try await fixture.application().test(.live) { client in
                    let done = try await signIn(fixture, oidc, issuer: issuer, client: client)
                    let back = try #require(A.location(done))
                    #expect(back.query["code"] == nil, "\(misbehaviour)")
                    #expect(back.query["error"] == "access_denied", "\(misbehaviour)")
                    #expect(back.query["state"] == A.state && back.query["iss"] == A.issuer)
                }
                #expect(try await fixture.count("identities") == 0)
                #expect(try await fixture.eventTypes() == ["tenant.updated", "client.registered"])
            }
        }
    }

    @Test("RS256 ID tokens verify against an RSA JWK; a token signed by another key or with a changed payload does not")
    func rs256() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let now = Int(Date().timeIntervalSince1970)
        func token(_ signer: _RSA.Signing.PrivateKey, sub: String = "s1") throws -> String {
            let input =
                Base64URL.encode(Array(#"{"alg":"RS256","kid":"r1"}"#.utf8)) + "."
                + Base64URL.encode(
                    Array(#"{"iss":"https://idp.example","sub":"\#(sub)","aud":"c","exp":\#(now + 60),"iat":\#(now),"nonce":"n"}"#.utf8)
                )
            let signature = try signer.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
            return input + "." + Base64URL.encode(Array(signature.rawRepresentation))
        }
        // The public key's n and e, from its DER (SubjectPublicKeyInfo → RSAPublicKey).
        let components = try Self.modulusAndExponent(Array(key.publicKey.pkcs1DERRepresentation))
        let jwk = JSONWebKey(kty: "RSA", kid: "r1", alg: "RS256", use: "sig", n: Base64URL.encode(components.n), e: Base64URL.encode(components.e))
        let claims = try IDTokenVerifier.verify(try token(key), keys: [jwk], issuer: "https://idp.example", clientId: "c", nonce: "n")
        #expect(claims["sub"] as? String == "s1")
        #expect(throws: IDTokenVerifier.Failure.self) {
            try IDTokenVerifier.verify(try token(other), keys: [jwk], issuer: "https://idp.example", clientId: "c", nonce: "n")
        }
        let good = try token(key)
        let parts = good.split(separator: ".")
        let forgedPayload = Base64URL.encode(
            Array(#"{"iss":"https://idp.example","sub":"admin","aud":"c","exp":\#(now + 60),"iat":\#(now),"nonce":"n"}"#.utf8)
        )
        #expect(throws: IDTokenVerifier.Failure.self) {
            try IDTokenVerifier.verify(
                "\(parts[0]).\(forgedPayload).\(parts[2])",
                keys: [jwk],
                issuer: "https://idp.example",
                clientId: "c",
                nonce: "n"
            )
        }
    }

    /// Reads n and e from a PKCS#1 RSAPublicKey DER (SEQUENCE { INTEGER n, INTEGER e }).
    static func modulusAndExponent(_ der: [UInt8]) throws -> (n: [UInt8], e: [UInt8]) {
        var index = 0
        func length() -> Int {
            let first = Int(der[index])
            index += 1
            guard first & 0x80 != 0 else { return first }
            var value = 0
            for _ in 0..<(first & 0x7F) {
                value = value << 8 | Int(der[index])
                index += 1
            }
            return value
        }
        func integer() -> [UInt8] {
            index += 1  // tag 0x02
            let count = length()
            defer { index += count }
            return Array(der[index..<(index + count)].drop { $0 == 0 })
        }
        index += 1  // SEQUENCE
        _ = length()
        let n = integer()
        let e = integer()
        return (n, e)
    }
}
