import Crypto
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MCPToolHost
import ServiceFixtures
import Testing

/// DPoP at `/mcp` (RFC 9449 §7): a bound token only with a proof of its key for this request,
/// each proof once across instances, the `DPoP` challenge with the specified errors.
@Suite("Tool host: DPoP-bound tokens")
struct ToolHostDPoPTests {
    static let mcpURL = "https://acme.example/mcp"
    static let grants = TenantGrants(dpop: true)

    /// A token of `tenant` bound to `key` (a proof sent with the code's redemption).
    static func boundToken(_ fixture: ToolHostFixture, key: DPoPKey) async throws -> String {
        let client = try await fixture.tokens.client()
        let fields = [
            ("grant_type", "authorization_code"), ("code", try TokenFixture.code(for: client)), ("redirect_uri", TokenFixture.redirect),
            ("code_verifier", TokenFixture.verifier), ("client_id", client.id),
        ]
        let json = try await fixture.tokenHTTP.form(
            "/oauth/token",
            fields,
            headers: [HTTPField.Name("DPoP")!: key.proof("POST", "https://acme.example/oauth/token")]
        ).json
        guard json["token_type"] as? String == "DPoP", let token = json["access_token"] as? String else {
            throw TestSupportError("no bound token: \(json)")
        }
        return token
    }

    static func dpop(_ token: String, _ proof: String...) -> HTTPFields {
        var fields: HTTPFields = [.authorization: "DPoP \(token)"]
        for value in proof { fields.append(HTTPField(name: HTTPField.Name("DPoP")!, value: value)) }
        return fields
    }

    @Test("A bound token with a proof of its key is served; the same proof at a second instance is a replay")
    func served() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.grants)
            let key = DPoPKey()
            let token = try await Self.boundToken(fixture, key: key)
            let proof = key.proof("POST", Self.mcpURL, token: token)
            try await fixture.application().test(.live) { first in
                let me = try await first.callTool("whoami", token: nil, headers: Self.dpop(token, proof))
                #expect(me.status == .ok && me.structured["authenticated"] as? Bool == true, "\(me.body)")
                try await fixture.application().test(.live) { second in
                    let replayed = try await second.callTool("whoami", token: nil, headers: Self.dpop(token, proof))
                    #expect(replayed.status == .unauthorized)
                    #expect(
                        replayed.headers[values: .wwwAuthenticate].contains { $0.hasPrefix("DPoP ") && $0.contains(#"error="invalid_dpop_proof""#) }
                    )
                    let fresh = try await second.callTool(
                        "whoami",
                        token: nil,
                        headers: Self.dpop(token, key.proof("POST", Self.mcpURL, token: token))
                    )
                    #expect(fresh.status == .ok)
                }
            }
        }
    }

    enum Misuse: String, CaseIterable, CustomTestStringConvertible {
        case boundTokenAsBearer, noProof, twoProofs, otherKey, otherToken, otherURL, otherMethod, bearerTokenWithDPoPScheme

        var testDescription: String { rawValue }
    }

    @Test("Every misuse is 401 with the right error in the right challenge", arguments: Misuse.allCases)
    func misuse(_ misuse: Misuse) async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.grants)
            let key = DPoPKey()
            let token = try await Self.boundToken(fixture, key: key)
            let bearer = try await fixture.accessToken()
            let headers: HTTPFields
            let expected: (error: String, scheme: String)
            switch misuse {
            case .boundTokenAsBearer:
                headers = [.authorization: "Bearer \(token)"]
                expected = ("invalid_token", "Bearer")
            case .noProof:
                headers = Self.dpop(token)
                expected = ("invalid_dpop_proof", "DPoP")
            case .twoProofs:
                headers = Self.dpop(token, key.proof("POST", Self.mcpURL, token: token), key.proof("POST", Self.mcpURL, token: token))
                expected = ("invalid_dpop_proof", "DPoP")
            case .otherKey:
                headers = Self.dpop(token, DPoPKey().proof("POST", Self.mcpURL, token: token))
                expected = ("invalid_dpop_proof", "DPoP")
            case .otherToken:
                headers = Self.dpop(token, key.proof("POST", Self.mcpURL, token: bearer))
                expected = ("invalid_dpop_proof", "DPoP")
            case .otherURL:
                headers = Self.dpop(token, key.proof("POST", "https://globex.example/mcp", token: token))
                expected = ("invalid_dpop_proof", "DPoP")
            case .otherMethod:
                headers = Self.dpop(token, key.proof("GET", Self.mcpURL, token: token))
                expected = ("invalid_dpop_proof", "DPoP")
            case .bearerTokenWithDPoPScheme:
                headers = Self.dpop(bearer, key.proof("POST", Self.mcpURL, token: bearer))
                expected = ("invalid_token", "DPoP")
            }
            try await fixture.application().test(.live) { http in
                let refused = try await http.callTool("whoami", token: nil, headers: headers)
                #expect(refused.status == .unauthorized, "\(refused.body)")
                #expect(refused.json["error"] as? String == expected.error, "\(refused.body)")
                let challenges = refused.headers[values: .wwwAuthenticate]
                #expect(challenges.contains { $0.hasPrefix(expected.scheme + " ") && $0.contains(#"error="\#(expected.error)""#) }, "\(challenges)")
                #expect(challenges.contains { $0.hasPrefix("DPoP ") && $0.contains(#"algs=""#) })
                #expect(!refused.body.contains(token) && !refused.body.contains(bearer))
            }
            #expect(try await fixture.outbox().filter { $0.type == "tool.invoked" }.isEmpty)
        }
    }

    @Test("With nonces asked for, /mcp answers use_dpop_nonce with a nonce of its own, then serves a proof that carries it")
    func nonces() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", grants: TenantGrants(dpop: true, dpopNonces: true))
            let key = DPoPKey()
            // The token endpoint asks for its own nonce first.
            let client = try await fixture.tokens.client()
            let fields = [
                ("grant_type", "authorization_code"), ("code", try TokenFixture.code(for: client)), ("redirect_uri", TokenFixture.redirect),
                ("code_verifier", TokenFixture.verifier), ("client_id", client.id),
            ]
            let tokenURL = "https://acme.example/oauth/token"
            let asked = try await fixture.tokenHTTP.form("/oauth/token", fields, headers: [HTTPField.Name("DPoP")!: key.proof("POST", tokenURL)])
            let tokenNonce = try #require(asked.headers[HTTPField.Name("DPoP-Nonce")!])
            let token = try #require(
                try await fixture.tokenHTTP.form(
                    "/oauth/token",
                    fields,
                    headers: [HTTPField.Name("DPoP")!: key.proof("POST", tokenURL, claims: ["nonce": tokenNonce])]
                ).json["access_token"] as? String
            )
            try await fixture.application().test(.live) { http in
                let refused = try await http.callTool("whoami", token: nil, headers: Self.dpop(token, key.proof("POST", Self.mcpURL, token: token)))
                #expect(refused.status == .unauthorized && refused.json["error"] as? String == "use_dpop_nonce", "\(refused.body)")
                #expect(refused.headers[values: .wwwAuthenticate].contains { $0.hasPrefix("DPoP ") && $0.contains(#"error="use_dpop_nonce""#) })
                let nonce = try #require(refused.headers[HTTPField.Name("DPoP-Nonce")!])
                // The token service's nonce is not this resource's.
                let theirs = try await http.callTool(
                    "whoami",
                    token: nil,
                    headers: Self.dpop(token, key.proof("POST", Self.mcpURL, token: token, claims: ["nonce": tokenNonce]))
                )
                #expect(theirs.status == .unauthorized && theirs.json["error"] as? String == "use_dpop_nonce")
                let served = try await http.callTool(
                    "whoami",
                    token: nil,
                    headers: Self.dpop(token, key.proof("POST", Self.mcpURL, token: token, claims: ["nonce": nonce]))
                )
                #expect(served.status == .ok, "\(served.body)")
                // The nonce to use next (the same one until its interval ends).
                #expect(fixture.configuration.dpopNonces.accepts(served.headers[HTTPField.Name("DPoP-Nonce")!]))
            }
        }
    }

    @Test("Without a token, a tenant that accepts DPoP challenges with Bearer and DPoP; one that does not, with Bearer only")
    func challenges() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.grants)
            try await fixture.tenant("globex")
            try await fixture.application().test(.live) { http in
                let both = try await http.callTool("whoami", token: nil).headers[values: .wwwAuthenticate]
                #expect(both.count == 2 && both[0].hasPrefix("Bearer ") && both[1].hasPrefix("DPoP algs="), "\(both)")
                let bearerOnly = try await http.callTool("whoami", host: "globex.example", token: nil).headers[values: .wwwAuthenticate]
                #expect(bearerOnly.count == 1 && bearerOnly[0].hasPrefix("Bearer "), "\(bearerOnly)")
            }
        }
    }

    @Test("Proofs built with PyJWT (a JOSE library we did not write) bind the token and are accepted at /mcp")
    func proofsFromPyJWT() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.grants)
            let key = P256.Signing.PrivateKey()
            let pem = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-dpop-\(UUID().uuidString).pem")
            try key.pemRepresentation.write(to: pem, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: pem) }
            func pythonProof(_ method: String, _ url: String, token: String? = nil) async throws -> String {
                let printed = try await runPythonClient(
                    "Tests/Upstreams/dpop_proof.py",
                    arguments: [pem.path, method, url] + (token.map { [$0] } ?? [])
                )
                return try #require(printed["proof"] as? String)
            }
            let client = try await fixture.tokens.client()
            let redeemed = try await fixture.tokenHTTP.form(
                "/oauth/token",
                [
                    ("grant_type", "authorization_code"), ("code", try TokenFixture.code(for: client)), ("redirect_uri", TokenFixture.redirect),
                    ("code_verifier", TokenFixture.verifier), ("client_id", client.id),
                ],
                headers: [HTTPField.Name("DPoP")!: try await pythonProof("POST", "https://acme.example/oauth/token")]
            )
            #expect(redeemed.json["token_type"] as? String == "DPoP", "\(redeemed.body)")
            let token = try #require(redeemed.json["access_token"] as? String)
            let described = try await fixture.tokenHTTP.introspect(token).json
            #expect((described["cnf"] as? [String: Any])?["jkt"] as? String == DPoPKey(key: key).thumbprint)
            let proof = try await pythonProof("POST", Self.mcpURL, token: token)
            try await fixture.application().test(.live) { http in
                let me = try await http.callTool("whoami", token: nil, headers: Self.dpop(token, proof))
                #expect(me.status == .ok && me.structured["authenticated"] as? Bool == true, "\(me.body)")
            }
        }
    }
}
