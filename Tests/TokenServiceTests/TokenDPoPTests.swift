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
import PostgresNIO
import ServiceFixtures
import Testing
import TokenService

/// DPoP at the token endpoint (RFC 9449 §5): tokens bound to the proof's key, a bound grant
/// refreshed only with a proof of that key, and every way a proof is refused.
@Suite("Token service: DPoP")
struct TokenDPoPTests {
    static let tokenURL = "https://acme.example/oauth/token"
    static let on = TenantGrants(dpop: true)

    static func redemption(_ client: TokenFixture.Client) throws -> [(String, String)] {
        [
            ("grant_type", "authorization_code"), ("code", try TokenFixture.code(for: client)), ("redirect_uri", TokenFixture.redirect),
            ("code_verifier", TokenFixture.verifier), ("client_id", client.id),
        ]
    }

    static func proofHeader(_ proofs: String...) -> HTTPFields {
        var fields = HTTPFields()
        for proof in proofs { fields.append(HTTPField(name: HTTPField.Name("DPoP")!, value: proof)) }
        return fields
    }

    @Test("A proof binds the grant: token_type DPoP, cnf.jkt in introspection; a refresh needs a proof of the same key, each proof once")
    func bindsTheGrant() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.on)
            let client = try await fixture.client()
            let key = DPoPKey()
            try await fixture.application().test(.live) { http in
                let redeemed = try await http.form(
                    "/oauth/token",
                    try Self.redemption(client),
                    headers: Self.proofHeader(key.proof("POST", Self.tokenURL))
                )
                #expect(redeemed.status == .ok, "\(redeemed.body)")
                #expect(redeemed.json["token_type"] as? String == "DPoP")
                let access = try #require(redeemed.json["access_token"] as? String)
                let refresh = try #require(redeemed.json["refresh_token"] as? String)

                let described = try await http.introspect(access).json
                #expect(described["token_type"] as? String == "DPoP")
                #expect((described["cnf"] as? [String: Any])?["jkt"] as? String == key.thumbprint)

                let fields = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client.id)]
                let bare = try await http.form("/oauth/token", fields)
                #expect(bare.status == .badRequest && bare.json["error"] as? String == "invalid_dpop_proof", "\(bare.body)")
                let otherKey = try await http.form("/oauth/token", fields, headers: Self.proofHeader(DPoPKey().proof("POST", Self.tokenURL)))
                #expect(otherKey.status == .badRequest && otherKey.json["error"] as? String == "invalid_dpop_proof")

                let proof = key.proof("POST", Self.tokenURL)
                let refreshed = try await http.form("/oauth/token", fields, headers: Self.proofHeader(proof))
                #expect(refreshed.status == .ok && refreshed.json["token_type"] as? String == "DPoP", "\(refreshed.body)")
                let renewed = try #require(refreshed.json["access_token"] as? String)
                #expect((try await http.introspect(renewed).json["cnf"] as? [String: Any])?["jkt"] as? String == key.thumbprint)

                // The same proof again (with the next refresh token): a replay.
                let next = try #require(refreshed.json["refresh_token"] as? String)
                let replayed = try await http.form(
                    "/oauth/token",
                    [("grant_type", "refresh_token"), ("refresh_token", next), ("client_id", client.id)],
                    headers: Self.proofHeader(proof)
                )
                #expect(replayed.status == .badRequest && (replayed.json["error_description"] as? String)?.contains("jti") == true)
            }
        }
    }

    @Test("Without DPoP for the tenant a proof is ignored: the tokens are Bearer tokens")
    func offByDefault() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let redeemed = try await http.form(
                    "/oauth/token",
                    try Self.redemption(client),
                    headers: Self.proofHeader(DPoPKey().proof("POST", Self.tokenURL))
                )
                #expect(redeemed.status == .ok && redeemed.json["token_type"] as? String == "Bearer")
                #expect(try await http.introspect(redeemed.json["access_token"] as? String ?? "").json["cnf"] == nil)
            }
        }
    }

    enum BadProof: String, CaseIterable, CustomTestStringConvertible {
        case wrongType, algorithmNone, macAlgorithm, noKey, privateKey, wrongSignature, wrongMethod, wrongURL, tooOld, fromTheFuture
        case noJTI, twoProofs, notAJWT

        var testDescription: String { rawValue }
    }

    @Test("A bad proof is invalid_dpop_proof (400), and the code is neither redeemed nor burned", arguments: BadProof.allCases)
    func badProofs(_ bad: BadProof) async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.on)
            let client = try await fixture.client()
            let key = DPoPKey()
            var jwk = key.jwk
            let headers: HTTPFields
            switch bad {
            case .wrongType: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, header: ["typ": "jwt", "alg": "ES256", "jwk": jwk]))
            case .algorithmNone: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, header: ["typ": "dpop+jwt", "alg": "none", "jwk": jwk]))
            case .macAlgorithm: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, header: ["typ": "dpop+jwt", "alg": "HS256", "jwk": jwk]))
            case .noKey: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, header: ["typ": "dpop+jwt", "alg": "ES256"]))
            case .privateKey:
                jwk["d"] = Base64URL.encode(Array(key.key.rawRepresentation))
                headers = Self.proofHeader(key.proof("POST", Self.tokenURL, header: ["typ": "dpop+jwt", "alg": "ES256", "jwk": jwk]))
            case .wrongSignature: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, signedBy: P256.Signing.PrivateKey()))
            case .wrongMethod: headers = Self.proofHeader(key.proof("GET", Self.tokenURL))
            case .wrongURL: headers = Self.proofHeader(key.proof("POST", "https://globex.example/oauth/token"))
            case .tooOld: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, issuedAt: Date().addingTimeInterval(-300)))
            case .fromTheFuture: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, issuedAt: Date().addingTimeInterval(300)))
            case .noJTI: headers = Self.proofHeader(key.proof("POST", Self.tokenURL, jti: nil))
            case .twoProofs: headers = Self.proofHeader(key.proof("POST", Self.tokenURL), key.proof("POST", Self.tokenURL))
            case .notAJWT: headers = Self.proofHeader("not-a-proof")
            }
            let fields = try Self.redemption(client)
            try await fixture.application().test(.live) { http in
                let refused = try await http.form("/oauth/token", fields, headers: headers)
                #expect(refused.status == .badRequest, "\(refused.body)")
                #expect(refused.json["error"] as? String == "invalid_dpop_proof", "\(refused.body)")
                // The code is still good with a good proof.
                let redeemed = try await http.form("/oauth/token", fields, headers: Self.proofHeader(key.proof("POST", Self.tokenURL)))
                #expect(redeemed.status == .ok, "\(redeemed.body)")
            }
            #expect(try await fixture.count("grants") == 1)
        }
    }

    @Test("Client credentials with a proof: the service principal's token is bound too")
    func clientCredentials() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: TenantGrants(clientCredentials: true, dpop: true))
            let client = try await fixture.serviceClient()
            let key = DPoPKey()
            try await fixture.application().test(.live) { http in
                var headers = http.basic(client)
                headers.append(HTTPField(name: HTTPField.Name("DPoP")!, value: key.proof("POST", "https://acme.example/token")))
                let issued = try await http.form("/token", [("grant_type", "client_credentials")], headers: headers)
                #expect(issued.status == .ok && issued.json["token_type"] as? String == "DPoP", "\(issued.body)")
                let described = try await http.introspect(issued.json["access_token"] as? String ?? "").json
                #expect((described["cnf"] as? [String: Any])?["jkt"] as? String == key.thumbprint)
            }
        }
    }

    @Test("With nonces asked for, a proof without one is use_dpop_nonce with the nonce to use; with it, tokens and the next nonce")
    func nonces() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", grants: TenantGrants(dpop: true, dpopNonces: true))
            let client = try await fixture.client()
            let key = DPoPKey()
            let fields = try Self.redemption(client)
            try await fixture.application().test(.live) { http in
                let asked = try await http.form("/oauth/token", fields, headers: Self.proofHeader(key.proof("POST", Self.tokenURL)))
                #expect(asked.status == .badRequest && asked.json["error"] as? String == "use_dpop_nonce", "\(asked.body)")
                let nonce = try #require(asked.headers[HTTPField.Name("DPoP-Nonce")!])
                for wrong in ["made-up", DPoPNonces(secret: Array(repeating: 1, count: 32)).current()] {
                    let refused = try await http.form(
                        "/oauth/token",
                        fields,
                        headers: Self.proofHeader(key.proof("POST", Self.tokenURL, claims: ["nonce": wrong]))
                    )
                    #expect(refused.json["error"] as? String == "use_dpop_nonce", "\(wrong): \(refused.body)")
                }
                let redeemed = try await http.form(
                    "/oauth/token",
                    fields,
                    headers: Self.proofHeader(key.proof("POST", Self.tokenURL, claims: ["nonce": nonce]))
                )
                #expect(redeemed.status == .ok && redeemed.json["token_type"] as? String == "DPoP", "\(redeemed.body)")
                #expect(redeemed.headers[HTTPField.Name("DPoP-Nonce")!] != nil)
            }
        }
    }

    @Test("A nonce is accepted in its interval and the next, and never from another key")
    func nonceIntervals() {
        let nonces = DPoPNonces(secret: Array(repeating: 7, count: 32))
        let now = Date()
        let nonce = nonces.current(now: now)
        #expect(nonces.accepts(nonce, now: now))
        #expect(nonces.accepts(nonce, now: now.addingTimeInterval(DPoPNonces.interval)))
        #expect(!nonces.accepts(nonce, now: now.addingTimeInterval(2 * DPoPNonces.interval)))
        #expect(!nonces.accepts(nonce, now: now.addingTimeInterval(-DPoPNonces.interval)))
        #expect(!DPoPNonces(secret: Array(repeating: 8, count: 32)).accepts(nonce, now: now))
        #expect(!nonces.accepts(nil, now: now))
    }

    @Test("RFC 7638's example key has the thumbprint the RFC gives")
    func thumbprint() {
        let key = [
            "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n":
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        ]
        #expect(DPoPProof.thumbprint(of: key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }
}
