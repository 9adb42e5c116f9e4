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

/// Revocation (RFC 7009), introspection (RFC 7662), userinfo and the key set.
@Suite("Token service: revocation, introspection, userinfo")
struct TokenInformationTests {
    typealias R = TokenRefreshTests

    @Test("Revoking an own access token revokes only it; an own refresh token the whole grant")
    func revocation() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client(method: "client_secret_post")
            try await fixture.application().test(.live) { http in
                let first = try await http.tokens(client)
                let revokeAccess = try await http.form("/oauth/revoke", [("token", first.access)] + http.credentials(client))
                #expect(revokeAccess.status == .ok && revokeAccess.body.isEmpty)
                #expect(try await !R.isActive(http, first.access))
                let second = try R.refreshed(try await http.refresh(first.refresh, client: client))
                #expect(try await R.isActive(http, second.access))

                #expect(try await http.form("/oauth/revoke", [("token", second.refresh)] + http.credentials(client)).status == .ok)
                #expect(try await !R.isActive(http, second.access))
                #expect(try await http.refresh(second.refresh, client: client).json["error"] as? String == "invalid_grant")
                #expect(try await fixture.outboxTypes().suffix(2) == ["token.refreshed", "token.revoked"])
            }
        }
    }

    @Test("Unknown, garbage and other clients' tokens: 200 and nothing revoked; bad credentials: 401")
    func revocationOfOthers() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let owner = try await fixture.client()
            let other = try await fixture.client(method: "client_secret_basic")
            try await fixture.application().test(.live) { http in
                let tokens = try await http.tokens(owner)
                for token in [tokens.access, tokens.refresh, "mcp_at_unknown", "garbage"] {
                    let response = try await http.form("/oauth/revoke", [("token", token)], headers: http.basic(other))
                    #expect(response.status == .ok)
                }
                #expect(try await R.isActive(http, tokens.access))
                #expect(try await http.refresh(tokens.refresh, client: owner).status == .ok)
                let wrong = try await http.form(
                    "/oauth/revoke",
                    [("token", tokens.access)],
                    headers: http.basic(other.presenting(secret: "mcp_secret_wrong"))
                )
                #expect(wrong.status == .unauthorized && wrong.json["error"] as? String == "invalid_client")
                let missing = try await http.form("/oauth/revoke", [("client_id", owner.id)])
                #expect(missing.status == .badRequest && missing.json["error"] as? String == "invalid_request")
            }
        }
    }

    @Test("Introspection: resource servers only; active tokens described with the user's email, anything else exactly inactive")
    func introspection() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.tenant("other")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let tokens = try await http.tokens(client)
                let anonymous = try await http.form("/oauth/introspect", [("token", tokens.access)])
                #expect(anonymous.status == .unauthorized && anonymous.json["error"] as? String == "invalid_client")
                let wrong = try await http.form(
                    "/oauth/introspect",
                    [("token", tokens.access)],
                    headers: [.authorization: "Basic " + Data("toolhost:not-the-secret".utf8).base64EncodedString()]
                )
                #expect(wrong.status == .unauthorized)

                let active = try await http.introspect(tokens.access)
                #expect(active.headers[.cacheControl] == "no-store")
                let json = active.json
                let userId = UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "42")
                #expect(json["active"] as? Bool == true && json["sub"] as? String == userId && json["client_id"] as? String == client.id)
                #expect(json["scope"] as? String == "mcp:tools email profile" && json["iss"] as? String == "https://acme.example")
                #expect(json["aud"] as? String == "https://acme.example/mcp" && json["email"] as? String == "ada@example.org")
                let exp = try #require(json["exp"] as? Int)
                let iat = try #require(json["iat"] as? Int)
                #expect(exp - iat == 3600)
                // The provisioned profile wins once it arrives.
                try await fixture.project(
                    EventEnvelope(
                        tenant: "acme",
                        aggregateKey: userId,
                        aggregateVersion: 2,
                        payload: UserUpserted(
                            userId: userId,
                            upstreamIssuer: "https://idp.example",
                            upstreamSubject: "42",
                            email: "ada@new.example",
                            emailVerified: true,
                            name: "Ada L.",
                            firstSeenAt: Date()
                        )
                    )
                )
                #expect(try await http.introspect(tokens.access).json["email"] as? String == "ada@new.example")

                let inactive = #"{"active":false}"#
                #expect(try await http.introspect(tokens.refresh).body == inactive)
                #expect(try await http.introspect("mcp_at_unknown").body == inactive)
                #expect(try await http.introspect(tokens.access, host: "other.example").body == inactive)
                try await fixture.client.query("UPDATE tokens.access_tokens SET expires_at = now() - interval '1 second'")
                #expect(try await http.introspect(tokens.access).body == inactive)
            }
        }
    }

    @Test("Introspection never says active at or after the exp it reports; exp is iat plus the lifetime")
    func activeEndsAtExp() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme", accessSeconds: 4)
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                // On a starved machine a token can expire before its first introspection; then
                // that answer must come no earlier than its lifetime allows, and a new token is
                // tried, until one is seen active and then seen to end.
                var sawActive = false
                for _ in 0..<5 where !sawActive {
                    let issued = Date()
                    let access = try await http.tokens(client).access
                    while true {
                        let asked = Date()
                        let answer = try await http.introspect(access).json
                        let answered = Date()
                        guard answer["active"] as? Bool == true else {
                            if !sawActive {
                                // Whole seconds: exp is at least the issuing second plus 4, and
                                // the server judged before its answer arrived.
                                let earliest = issued.timeIntervalSince1970.rounded(.down) + 4
                                #expect(answered.timeIntervalSince1970 >= earliest, "inactive before it could have expired")
                            }
                            break
                        }
                        sawActive = true
                        let exp = try #require(answer["exp"] as? Int)
                        let iat = try #require(answer["iat"] as? Int)
                        #expect(exp == iat + 4)
                        // The server judged activity after `asked`; it must have been before exp.
                        #expect(asked.timeIntervalSince1970 < Double(exp), "active at \(asked.timeIntervalSince1970), exp \(exp)")
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                #expect(sawActive)
            }
        }
    }

    @Test("Introspection authenticates its caller before it judges the body: 401 first, then 400")
    func introspectionAuthenticatesFirst() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { http in
                let host: HTTPFields = [HTTPField.Name("X-Forwarded-Host")!: "acme.example"]
                func post(_ body: String, _ headers: HTTPFields) async throws -> HTTPResult {
                    try await http.execute(uri: "/oauth/introspect", method: .post, headers: host + headers, body: ByteBuffer(string: body)) {
                        HTTPResult(status: $0.status, headers: $0.headers, body: String(buffer: $0.body))
                    }
                }
                let basic = "Basic " + Data("\(TokenFixture.resourceServer.id):\(TokenFixture.resourceServer.secret)".utf8).base64EncodedString()
                let anonymousJSON = try await post(#"{"token":"x"}"#, [.contentType: "application/json"])
                #expect(anonymousJSON.status == .unauthorized && anonymousJSON.json["error"] as? String == "invalid_client")
                let wrongBasic = try await post(
                    "token=a&token=b",
                    [.contentType: "application/x-www-form-urlencoded", .authorization: "Basic Zm9vOmJhcg=="]
                )
                #expect(wrongBasic.status == .unauthorized && wrongBasic.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
                let authenticatedJSON = try await post(#"{"token":"x"}"#, [.contentType: "application/json", .authorization: basic])
                #expect(authenticatedJSON.status == .badRequest && authenticatedJSON.json["error"] as? String == "invalid_request")
                let noToken = try await post("", [.contentType: "application/x-www-form-urlencoded", .authorization: basic])
                #expect(noToken.status == .badRequest && noToken.json["error"] as? String == "invalid_request")
            }
        }
    }

    @Test("An address that keeps failing introspection's authentication is refused with 429, even with good credentials")
    func introspectionFailureBudget() async throws {
        try await TokenFixture.run(configuration: TokenFixture.configuration(failuresPerMinute: 3)) { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { http in
                for _ in 0..<3 {
                    let guess = try await http.form(
                        "/oauth/introspect",
                        [("token", "x")],
                        headers: [.authorization: "Basic " + Data("toolhost:guess".utf8).base64EncodedString()]
                    )
                    #expect(guess.status == .unauthorized)
                }
                let refused = try await http.introspect("x")
                #expect(refused.status == .tooManyRequests && refused.headers[.retryAfter] != nil)
            }
        }
    }

    @Test(
        "A method an OAuth endpoint does not serve is 405 with Allow, not 404",
        arguments: [
            ("/oauth/token", "GET"), ("/token", "PUT"), ("/oauth/revoke", "GET"), ("/oauth/introspect", "DELETE"), ("/oauth/jwks", "POST"),
        ]
    )
    func methodNotAllowed(_ path: String, _ method: String) async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { http in
                let answer = try await http.execute(
                    uri: path,
                    method: HTTPRequest.Method(method)!,
                    headers: [HTTPField.Name("X-Forwarded-Host")!: "acme.example"]
                ) {
                    HTTPResult(status: $0.status, headers: $0.headers, body: String(buffer: $0.body))
                }
                #expect(answer.status == .methodNotAllowed)
                #expect(answer.headers[.allow] == (path == "/oauth/jwks" ? "GET, OPTIONS" : "POST, OPTIONS"))
                #expect(answer.json["error"] as? String == "invalid_request")
            }
        }
    }

    @Test("Userinfo: bearer only, claims by scope from the profile; bad tokens 401 with WWW-Authenticate")
    func userinfo() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let tokens = try await http.tokens(client)
                let info = try await http.send("/oauth/userinfo", host: "acme.example", token: tokens.access)
                #expect(info.status == .ok && info.headers[.cacheControl] == "no-store")
                #expect(info.json["sub"] as? String == UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "42"))
                #expect(info.json["email"] as? String == "ada@example.org" && info.json["email_verified"] as? Bool == true)
                #expect(info.json["name"] as? String == "Ada")
                #expect(!info.body.contains("upstream"))

                let narrow = try await http.redeem(try TokenFixture.code(for: client, scopes: ["mcp:tools"]), client: client).json
                let minimal = try await http.send("/oauth/userinfo", host: "acme.example", token: try #require(narrow["access_token"] as? String))
                #expect(minimal.json.keys.sorted() == ["sub"])

                let none = try await http.send("/oauth/userinfo", host: "acme.example")
                #expect(none.status == .unauthorized && none.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                let bad = try await http.send("/oauth/userinfo", host: "acme.example", token: "mcp_at_forged")
                #expect(bad.status == .unauthorized && bad.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
            }
        }
    }

    @Test("The key set publishes the tenant's identity assertion keys (public halves only); empty without assertion keys")
    func jwks() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { http in
                let keys = try await http.send("/oauth/jwks", host: "acme.example")
                let published = try #require(keys.json["keys"] as? [[String: String]])
                #expect(keys.status == .ok && published == TokenFixture.assertionKeys.publicJWKs(tenant: "acme"))
                #expect(published.count == 1 && published[0]["d"] == nil && published[0]["alg"] == "ES256")
                #expect(try await http.send("/oauth/jwks", host: "unknown.example").status == .notFound)
            }
        }
        var configuration = TokenFixture.configuration()
        configuration.assertionKeys = nil
        try await TokenFixture.run(configuration: configuration) { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { http in
                let keys = try await http.send("/oauth/jwks", host: "acme.example")
                #expect(keys.status == .ok && keys.body == #"{"keys":[]}"#)
                #expect(try await http.send("/oauth/jwks", host: "unknown.example").status == .notFound)
            }
        }
    }
}
