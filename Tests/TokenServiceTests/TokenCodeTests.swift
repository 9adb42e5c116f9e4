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

/// The authorization code grant at the token service against real PostgreSQL: client
/// authentication, PKCE, single use, failure counting, and the endpoint's form rules.
@Suite("Token service: code redemption")
struct TokenCodeTests {
    @Test("A code is redeemed once for opaque, prefixed tokens stored only as hashes, with token.issued and no secret in it")
    func redeems() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", accessSeconds: 900)
            let client = try await fixture.client()
            let code = try TokenFixture.code(for: client)
            try await fixture.application().test(.live) { http in
                let response = try await http.redeem(code, client: client)
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                let json = response.json
                let access = try #require(json["access_token"] as? String)
                let refresh = try #require(json["refresh_token"] as? String)
                #expect(access.hasPrefix("mcp_at_") && access.count >= 7 + 27 && refresh.hasPrefix("mcp_rt_"))
                #expect(json["token_type"] as? String == "Bearer")
                #expect(json["expires_in"] as? Int == 900)
                #expect(json["scope"] as? String == "mcp:tools email profile")
                // Stored only as hashes.
                let stored = try await fixture.client.query("SELECT hash FROM tokens.access_tokens UNION ALL SELECT hash FROM tokens.refresh_tokens")
                var hashes: Set<String> = []
                for try await hash in stored.decode(String.self) { hashes.insert(hash) }
                #expect(hashes == [SecretHash.of(access), SecretHash.of(refresh)])
                // Announced, without a token or the code.
                #expect(try await fixture.outboxTypes() == ["token.issued"])
                let envelopes = try await fixture.client.query("SELECT envelope FROM tokens.outbox")
                for try await envelope in envelopes.decode(String.self) {
                    #expect(!envelope.contains(access) && !envelope.contains(refresh) && !envelope.contains(code))
                    #expect(envelope.contains(SecretHash.of(access)) && envelope.contains(SealedCode.hash(code)))
                }
                // Audience-bound to the tenant's resource, carrying the user.
                let introspection = try await http.introspect(access).json
                #expect(introspection["active"] as? Bool == true)
                #expect(introspection["aud"] as? String == "https://acme.example/mcp")
                #expect(introspection["sub"] as? String == UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "42"))
            }
        }
    }

    @Test("A second redemption of a code is invalid_grant and revokes every token the first one produced")
    func singleUse() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let code = try TokenFixture.code(for: client)
            try await fixture.application().test(.live) { http in
                let first = try await http.redeem(code, client: client).json
                let again = try await http.redeem(code, client: client)
                #expect(again.status == .badRequest && again.json["error"] as? String == "invalid_grant")
                #expect(try await http.introspect(try #require(first["access_token"] as? String)).body == #"{"active":false}"#)
                let refreshed = try await http.refresh(try #require(first["refresh_token"] as? String), client: client)
                #expect(refreshed.json["error"] as? String == "invalid_grant")
                #expect(try await fixture.outboxTypes() == ["token.issued", "token.revoked"])
            }
        }
    }

    @Test("Simultaneous redemptions of one code: exactly one success, the rest invalid_grant, never a 500")
    func parallelRedemptions() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let code = try TokenFixture.code(for: client)
            let probe = InFlightProbe()
            try await fixture.application(probe: probe).test(.ahc(.http)) { http in
                let results = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                    for _ in 0..<InFlightProbe.burst { group.addTask { try await http.redeem(code, client: client) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.filter { $0.status == .ok }.count == 1)
                for result in results where result.status != .ok {
                    if result.isTemporarilyUnavailable {
                        // On a starved machine a loser's revocation can outlast the storage deadline:
                        // a 503 with Retry-After. Tried again, the code is still spent.
                        #expect(try await http.redeem(code, client: client).json["error"] as? String == "invalid_grant")
                    } else {
                        #expect(result.json["error"] as? String == "invalid_grant", "\(result.status): \(result.body)")
                    }
                }
                #expect(try await fixture.count("grants") == 1)
                #expect(probe.peak > 1, "the requests overlapped in the server")
            }
        }
    }

    @Test("PKCE: a missing verifier is invalid_request, a wrong one or one for a code without a challenge invalid_grant")
    func pkce() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let missing = try await http.redeem(try TokenFixture.code(for: client), client: client, verifier: nil)
                #expect(missing.status == .badRequest && missing.json["error"] as? String == "invalid_request")
                let wrong = try await http.redeem(try TokenFixture.code(for: client), client: client, verifier: String(repeating: "x", count: 43))
                #expect(wrong.json["error"] as? String == "invalid_grant")
                let unbound = try await http.redeem(try TokenFixture.code(for: client, challenge: nil), client: client)
                #expect(unbound.json["error"] as? String == "invalid_grant")
                #expect(try await fixture.count("grants") == 0)
            }
        }
    }

    @Test("Failed redemptions do not burn the code, but three do")
    func failuresBurn() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let survivor = try TokenFixture.code(for: client)
                #expect(try await http.redeem(survivor, client: client, verifier: String(repeating: "x", count: 43)).status == .badRequest)
                #expect(try await http.redeem(survivor, client: client, redirect: "http://127.0.0.1:7777/other").status == .badRequest)
                #expect(try await http.redeem(survivor, client: client).status == .ok)

                let burned = try TokenFixture.code(for: client)
                for _ in 0..<3 {
                    #expect(try await http.redeem(burned, client: client, verifier: String(repeating: "y", count: 43)).status == .badRequest)
                }
                let late = try await http.redeem(burned, client: client)
                #expect(late.json["error"] as? String == "invalid_grant")
                #expect(try await fixture.count("grants") == 1)
            }
        }
    }

    @Test("redirect_uri and resource must match the authorization; a code of another client, tenant or age is refused")
    func bindingMismatches() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.tenant("other")
            let client = try await fixture.client()
            let stranger = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let noRedirect = try await http.form(
                    "/oauth/token",
                    [
                        ("grant_type", "authorization_code"), ("code", try TokenFixture.code(for: client)),
                        ("code_verifier", TokenFixture.verifier), ("client_id", client.id),
                    ]
                )
                #expect(noRedirect.json["error"] as? String == "invalid_request")
                let wrongRedirect = try await http.redeem(try TokenFixture.code(for: client), client: client, redirect: "http://127.0.0.1:7777/x")
                #expect(wrongRedirect.json["error"] as? String == "invalid_grant")
                let wrongResource = try await http.redeem(
                    try TokenFixture.code(for: client),
                    client: client,
                    extra: [("resource", "https://other.example/mcp")]
                )
                #expect(wrongResource.json["error"] as? String == "invalid_target")
                let rightResource = try await http.redeem(
                    try TokenFixture.code(for: client),
                    client: client,
                    extra: [("resource", "https://acme.example/mcp")]
                )
                #expect(rightResource.status == .ok)
                let otherClient = try await http.redeem(try TokenFixture.code(for: client), client: stranger)
                #expect(otherClient.json["error"] as? String == "invalid_grant")
                let otherTenant = try await http.redeem(try TokenFixture.code(for: client, tenant: "other"), client: client)
                #expect(otherTenant.json["error"] as? String == "invalid_grant")
                let expired = try await http.redeem(try TokenFixture.code(for: client, issuedAt: Date().addingTimeInterval(-61)), client: client)
                #expect(expired.json["error"] as? String == "invalid_grant")
                let garbage = try await http.redeem("mcp_code_k1.bm90LWEtY29kZQ", client: client)
                #expect(garbage.json["error"] as? String == "invalid_grant")
                #expect(try await http.redeem(try TokenFixture.code(for: client), client: client, host: "unknown.example").status == .notFound)
            }
        }
    }

    @Test("Clients authenticate as registered: Basic, post or none; a failed Basic gets 401 and WWW-Authenticate")
    func clientAuthentication() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let basic = try await fixture.client(method: "client_secret_basic")
            let post = try await fixture.client(method: "client_secret_post")
            let publicClient = try await fixture.client()
            try await fixture.application().test(.live) { http in
                #expect(try await http.redeem(try TokenFixture.code(for: basic), client: basic).status == .ok)
                #expect(try await http.redeem(try TokenFixture.code(for: post), client: post).status == .ok)

                let wrongSecret = basic.presenting(secret: "mcp_secret_wrong")
                let refused = try await http.redeem(try TokenFixture.code(for: basic), client: wrongSecret)
                #expect(refused.status == .unauthorized && refused.json["error"] as? String == "invalid_client")
                #expect(refused.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)

                // A post client trying Basic, a Basic client posting its secret: either secret method, by
                // default (some hosted clients always post their secret), with the right secret only.
                let postAsBasic = post.presenting(method: "client_secret_basic", secret: post.secret)
                #expect(try await http.redeem(try TokenFixture.code(for: post), client: postAsBasic).status == .ok)
                let basicAsPost = basic.presenting(method: "client_secret_post", secret: basic.secret)
                #expect(try await http.redeem(try TokenFixture.code(for: basic), client: basicAsPost).status == .ok)
                let basicAsPostWrong = basic.presenting(method: "client_secret_post", secret: "mcp_secret_wrong")
                #expect(
                    try await http.redeem(try TokenFixture.code(for: basic), client: basicAsPostWrong).json["error"] as? String == "invalid_client"
                )
                // Two methods at once.
                let both = try await http.redeem(
                    try TokenFixture.code(for: basic),
                    client: basic,
                    extra: [("client_secret", basic.secret!)]
                )
                #expect(both.status == .badRequest && both.json["error"] as? String == "invalid_request")
                // A public client presenting a secret, and no client at all.
                let publicWithSecret = publicClient.presenting(method: "client_secret_post", secret: "mcp_secret_made_up")
                #expect(try await http.redeem(try TokenFixture.code(for: publicClient), client: publicWithSecret).status == .unauthorized)
                let anonymous = try await http.form(
                    "/oauth/token",
                    [
                        ("grant_type", "authorization_code"),
                        ("code", try TokenFixture.code(for: publicClient)),
                    ]
                )
                #expect(anonymous.status == .unauthorized && anonymous.json["error"] as? String == "invalid_client")
            }
        }
    }

    @Test("Client profiles: the registered method only where the tenant says so; an access token lifetime for one client")
    func clientProfiles() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let basic = try await fixture.client(method: "client_secret_basic")
            let post = try await fixture.client(method: "client_secret_post")
            let neverRefreshes = try await fixture.client()
            try await fixture.tenant(
                "acme",
                version: 2,
                clientProfiles: ClientProfiles(
                    defaults: ClientProfile(clientAuthentication: .registered),
                    overrides: [
                        ClientProfileOverride(clientId: post.id, profile: ClientProfile(clientAuthentication: .anySecretMethod)),
                        ClientProfileOverride(clientId: neverRefreshes.id, profile: ClientProfile(accessTokenSeconds: 86_400)),
                    ]
                )
            )
            try await fixture.application().test(.live) { http in
                let basicAsPost = basic.presenting(method: "client_secret_post", secret: basic.secret)
                let refused = try await http.redeem(try TokenFixture.code(for: basic), client: basicAsPost)
                #expect(refused.status == .unauthorized && refused.json["error"] as? String == "invalid_client")
                #expect(try await http.redeem(try TokenFixture.code(for: basic), client: basic).status == .ok)
                let postAsBasic = post.presenting(method: "client_secret_basic", secret: post.secret)
                #expect(try await http.redeem(try TokenFixture.code(for: post), client: postAsBasic).status == .ok, "its override allows it")

                let long = try await http.redeem(try TokenFixture.code(for: neverRefreshes), client: neverRefreshes)
                #expect(long.json["expires_in"] as? Int == 86_400)
                let refreshed = try await http.refresh(try #require(long.json["refresh_token"] as? String), client: neverRefreshes)
                #expect(refreshed.json["expires_in"] as? Int == 86_400)
                let usual = try await http.redeem(try TokenFixture.code(for: basic), client: basic)
                #expect(usual.json["expires_in"] as? Int == 3600)
            }
        }
    }

    @Test("A client whose client.registered has not arrived authenticates with the credentials its code carries")
    func unprojectedClient() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let fresh = try await fixture.client(method: "client_secret_basic", project: false)
            let wrong = fresh.presenting(secret: "mcp_secret_wrong")
            let (first, second) = (try TokenFixture.code(for: fresh), try TokenFixture.code(for: fresh))
            try await fixture.application().test(.live) { http in
                let accepted = try await http.redeem(first, client: fresh)
                #expect(accepted.status == .ok)
                let refused = try await http.redeem(second, client: wrong)
                #expect(refused.status == .unauthorized)
            }
        }
    }

    @Test("The endpoint: form bodies only, no repeated parameter, size limit, grant types, root alias, CORS without credentials")
    func endpointRules() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let json = try await http.send("/oauth/token", method: .post, host: "acme.example", json: #"{"grant_type":"authorization_code"}"#)
                #expect(json.status == .badRequest && json.json["error"] as? String == "invalid_request")
                let repeated = try await http.form(
                    "/oauth/token",
                    [
                        ("grant_type", "refresh_token"), ("grant_type", "refresh_token"),
                        ("client_id", client.id),
                    ]
                )
                #expect(repeated.json["error"] as? String == "invalid_request")
                let big = try await http.form(
                    "/oauth/token",
                    [
                        ("grant_type", "refresh_token"), ("client_id", client.id),
                        ("refresh_token", String(repeating: "a", count: 20_000)),
                    ]
                )
                #expect(big.status == .contentTooLarge && big.json["error"] as? String == "invalid_request")
                let password = try await http.form("/oauth/token", [("grant_type", "password"), ("client_id", client.id)])
                #expect(password.json["error"] as? String == "unsupported_grant_type")
                let none = try await http.form("/oauth/token", [("client_id", client.id)])
                #expect(none.json["error"] as? String == "invalid_request")
                #expect(
                    try await http.form(
                        "/token",
                        try [
                            ("grant_type", "authorization_code"), ("code", TokenFixture.code(for: client)),
                            ("redirect_uri", TokenFixture.redirect), ("code_verifier", TokenFixture.verifier),
                            ("client_id", client.id),
                        ]
                    ).status == .ok
                )

                let preflight = try await http.send(
                    "/oauth/token",
                    method: .options,
                    host: "acme.example",
                    headers: [.origin: "https://app.example", .accessControlRequestMethod: "POST"]
                )
                #expect(preflight.status == .noContent && preflight.headers[.accessControlAllowOrigin] == "*")
                #expect(preflight.headers[.accessControlAllowCredentials] == nil)
                let error = try await http.form(
                    "/oauth/token",
                    [("grant_type", "password"), ("client_id", client.id)],
                    headers: [.origin: "https://app.example"]
                )
                #expect(error.headers[.accessControlAllowOrigin] == "*")
            }
        }
    }

    @Test("Failed attempts run out: 429 with Retry-After for the address and the client")
    func failureLimit() async throws {
        try await TokenFixture.run(configuration: TokenFixture.configuration(failuresPerMinute: 3)) { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                for _ in 0..<3 {
                    #expect(try await http.refresh("mcp_rt_guess\(UUID().uuidString)", client: client).json["error"] as? String == "invalid_grant")
                }
                let limited = try await http.redeem(try TokenFixture.code(for: client), client: client)
                #expect(limited.status == .tooManyRequests)
                #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
        }
    }
}

extension TestClientProtocol {
    func redeem(_ code: String, client: TokenFixture.Client, host: String) async throws -> HTTPResult {
        try await form(
            "/oauth/token",
            [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", TokenFixture.redirect),
                ("code_verifier", TokenFixture.verifier),
            ] + credentials(client),
            host: host
        )
    }
}
