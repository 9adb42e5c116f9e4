import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import ServiceFixtures
import Testing

/// `/oauth/authorize` and the consent page: bad clients and redirect URIs on our page (never
/// redirected), other errors back to the client with `state` and `iss`, consent with CSRF
/// protection, denial, remembered approvals, and the redirect to the upstream.
@Suite("Gateway: authorize and consent")
struct GatewayAuthorizeTests {
    @Test("A query written as a form (spaces as +, as URLSearchParams writes them) means the same request")
    func plusIsASpace() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                // Found by the local stack: a client's "scope=mcp%3Atools+email" was read as one unknown scope.
                let uri = Self.valid(setup.clientId, overriding: ["scope": nil]) + "&scope=mcp%3Atools+email"
                let page = try await client.send(uri, host: Self.host)
                #expect(page.status == .ok, "\(page.headers[.location] ?? page.body.prefix(200).description)")
                let form = try #require(Self.form(page.body))
                let approved = try await client.send(
                    "/oauth/consent",
                    method: .post,
                    host: Self.host,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: Self.cookie(page)!],
                    json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
                )
                let upstream = try #require(approved.headers[.location].flatMap(URLComponents.init(string:)))
                #expect(upstream.queryItems?.contains { $0.name == "state" } == true)
                let rows = try await fixture.client.query("SELECT scopes FROM gateway.authorization_requests")
                var stored: [[String]] = []
                for try await scopes in rows.decode([String].self) { stored.append(scopes) }
                #expect(stored == [["mcp:tools", "email"]])
            }
        }
    }

    @Test("Consent page, approval, the upstream redirect, and a remembered approval")
    func consentAndUpstream() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                let page = try await client.send(Self.valid(setup.clientId), host: Self.host)
                #expect(page.status == .ok)
                #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                // The form's answer redirects upstream or back to the client: browsers check those against form-action.
                #expect(
                    page.headers[.contentSecurityPolicy]?.contains("form-action 'self' http://127.0.0.1:5555 https://github.example") == true,
                    "\(page.headers[.contentSecurityPolicy] ?? "")"
                )
                #expect(page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(page.headers[.cacheControl] == "no-store")
                let setCookie = try #require(page.headers[.setCookie])
                #expect(
                    setCookie.hasPrefix("__Host-gatehouse-session=") && setCookie.contains("Secure") && setCookie.contains("HttpOnly")
                        && setCookie.contains("SameSite=Lax") && setCookie.contains("Path=/") && !setCookie.contains("Domain")
                )
                #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; Desktop"))
                #expect(!page.body.contains("<script>"))
                #expect(page.body.contains("127.0.0.1:5555"))
                #expect(page.body.contains("mcp:tools"))
                let form = try #require(Self.form(page.body))
                let cookie = try #require(Self.cookie(page))

                let approved = try await client.send(
                    "/oauth/consent",
                    method: .post,
                    host: Self.host,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
                    json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
                )
                #expect(approved.status == .seeOther)
                let upstream = try #require(Self.location(approved))
                #expect(upstream.base == "https://github.example/login/oauth/authorize")
                #expect(upstream.query["response_type"] == "code")
                #expect(upstream.query["client_id"] == "gh-client")
                #expect(upstream.query["redirect_uri"] == "https://acme.example/oauth/callback")
                #expect(upstream.query["scope"] == "read:user user:email")
                #expect(upstream.query["code_challenge_method"] == "S256")
                #expect(upstream.query["code_challenge"].map(PKCE.isWellFormedS256Challenge) == true)
                #expect(upstream.query["code_challenge"] != Self.challenge, "our own PKCE, not the client's")
                #expect(upstream.query["allow_signup"] == "false")
                #expect(upstream.query["nonce"] == nil, "no nonce for a plain OAuth 2.0 upstream")
                let upstreamState = try #require(upstream.query["state"])
                #expect(upstreamState.count >= 43 && upstreamState != Self.state)

                let rows = try await fixture.client.query(
                    "SELECT status, upstream_state_hash, upstream_verifier FROM gateway.authorization_requests WHERE id = \(form.request)"
                )
                for try await (status, stateHash, verifier) in rows.decode((String, String?, String?).self) {
                    #expect(status == "upstream")
                    #expect(stateHash == SecretHash.of(upstreamState))
                    #expect(verifier.map { KeyRing.keyID(of: $0) == "k1" } == true)
                }
                #expect(try await fixture.count("consents") == 1)

                // The same form again does nothing.
                let replayed = try await client.send(
                    "/oauth/consent",
                    method: .post,
                    host: Self.host,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
                    json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
                )
                #expect(replayed.status == .forbidden)

                // Remembered: the same session goes straight upstream; a wider scope asks again.
                let again = try await client.send(Self.valid(setup.clientId), host: Self.host, headers: [.cookie: cookie])
                #expect(again.status == .seeOther)
                #expect(Self.location(again)?.base == "https://github.example/login/oauth/authorize")
                let wider = try await client.send(
                    Self.valid(setup.clientId, overriding: ["scope": "mcp:tools offline_access"]),
                    host: Self.host,
                    headers: [.cookie: cookie]
                )
                #expect(wider.status == .ok)
                // Another browser is asked too.
                #expect(try await client.send(Self.valid(setup.clientId), host: Self.host).status == .ok)
            }
        }
    }

    @Test("Denial returns access_denied with the client's state byte for byte and iss")
    func denial() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                let page = try await client.send(Self.valid(setup.clientId), host: Self.host)
                let form = try #require(Self.form(page.body))
                let denied = try await client.send(
                    "/oauth/consent",
                    method: .post,
                    host: Self.host,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: Self.cookie(page)!],
                    json: "request=\(form.request)&csrf=\(form.csrf)&decision=deny"
                )
                #expect(denied.status == .seeOther)
                let back = try #require(Self.location(denied))
                #expect(back.base == Self.redirect)
                #expect(back.query["error"] == "access_denied")
                #expect(back.query["state"] == Self.state)
                #expect(back.query["iss"] == Self.issuer)
            }
            #expect(try await fixture.count("consents") == 0)
        }
    }

    @Test(
        "A forged, foreign or replayed consent form is refused and approves nothing",
        arguments: [
            "wrong csrf", "no cookie", "other session", "unknown request", "form encoding", "bad decision",
        ]
    )
    func forgedConsent(_ attack: String) async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                let page = try await client.send(Self.valid(setup.clientId), host: Self.host)
                let form = try #require(Self.form(page.body))
                var cookie = Self.cookie(page)
                var body = "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
                var contentType = "application/x-www-form-urlencoded"
                switch attack {
                case "wrong csrf": body = "request=\(form.request)&csrf=\(SecretGenerator.generate(prefix: "", bytes: 24))&decision=approve"
                case "no cookie": cookie = nil
                case "other session": cookie = Self.cookie(try await client.send(Self.valid(setup.clientId), host: Self.host))
                case "unknown request": body = "request=ar_unknown&csrf=\(form.csrf)&decision=approve"
                case "form encoding": contentType = "application/json"
                default: body = "request=\(form.request)&csrf=\(form.csrf)&decision=maybe"
                }
                var headers: HTTPFields = [.contentType: contentType]
                if let cookie { headers[.cookie] = cookie }
                let response = try await client.send("/oauth/consent", method: .post, host: Self.host, headers: headers, json: body)
                #expect([.forbidden, .badRequest].contains(response.status), "\(attack)")
                #expect(response.headers[.location] == nil)
            }
            #expect(try await fixture.count("consents") == 0)
            let rows = try await fixture.client.query("SELECT count(*) FROM gateway.authorization_requests WHERE status <> 'pending'")
            for try await count in rows.decode(Int64.self) { #expect(count == 0) }
        }
    }

    @Test(
        "A bad client or redirect URI is shown on our page and never redirected",
        arguments: [
            "missing client_id", "unknown client", "other tenant's client", "repeated client_id", "unregistered redirect",
            "redirect with extra path", "redirect with query", "redirect of other host",
        ]
    )
    func pageErrors(_ problem: String) async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            let uri: String
            switch problem {
            case "missing client_id": uri = Self.valid(setup.clientId, overriding: ["client_id": nil])
            case "unknown client": uri = Self.valid("mcp_client_unknown")
            case "other tenant's client": uri = Self.valid(setup.otherTenantClientId)
            case "repeated client_id": uri = Self.valid(setup.clientId, extra: [("client_id", setup.clientId)])
            case "unregistered redirect": uri = Self.valid(setup.clientId, overriding: ["redirect_uri": "https://evil.example/cb"])
            case "redirect with extra path": uri = Self.valid(setup.clientId, overriding: ["redirect_uri": Self.redirect + "/x"])
            case "redirect with query": uri = Self.valid(setup.clientId, overriding: ["redirect_uri": Self.redirect + "?next=1"])
            default: uri = Self.valid(setup.clientId, overriding: ["redirect_uri": "http://localhost:5555/cb"])
            }
            try await fixture.application().test(.live) { client in
                let response = try await client.send(uri, host: Self.host)
                #expect(response.status == .badRequest, "\(problem)")
                #expect(response.headers[.location] == nil)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(response.body.contains("invalid_request") || response.body.contains("invalid_client"))
            }
            #expect(try await fixture.count("authorization_requests") == 0)
        }
    }

    /// Problem, query changes, expected error, whether state comes back.
    static let redirectErrors: [(String, [String: String?], [(String, String?)], String, Bool)] = [
        ("response_type token", ["response_type": "token"], [], "unsupported_response_type", true),
        ("no response_type", ["response_type": nil], [], "invalid_request", true),
        ("no code_challenge", ["code_challenge": nil], [], "invalid_request", true),
        ("no code_challenge_method", ["code_challenge_method": nil], [], "invalid_request", true),
        ("plain method", ["code_challenge_method": "plain"], [], "invalid_request", true),
        ("malformed challenge", ["code_challenge": "too-short"], [], "invalid_request", true),
        ("other resource", [:], [("resource", "https://evil.example/mcp")], "invalid_target", true),
        ("resource of another tenant", [:], [("resource", "https://globex.example/mcp")], "invalid_target", true),
        ("unknown scope", ["scope": "mcp:tools admin"], [], "invalid_scope", true),
        ("empty code_challenge, as if omitted", ["code_challenge": ""], [], "invalid_request", true),
        ("repeated scope", [:], [("scope", "openid")], "invalid_request", true),
        ("request object", [:], [("request", "eyJhbGciOiJub25lIn0.e30.")], "request_not_supported", true),
        ("request_uri", [:], [("request_uri", "urn:example:req")], "request_uri_not_supported", true),
        ("state too long", ["state": String(repeating: "s", count: 3000)], [], "invalid_request", false),
    ]

    @Test(
        "Other errors go back to a client this browser approved, with the RFC error, its state and iss; nothing is stored",
        arguments: Array(redirectErrors.indices)
    )
    func redirectErrorsTest(_ index: Int) async throws {
        let (problem, changes, extra, expected, echoesState) = Self.redirectErrors[index]
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                let browser = try await Self.approvedBrowser(client, clientId: setup.clientId)
                let response = try await client.send(
                    Self.valid(setup.clientId, overriding: changes, extra: extra),
                    host: Self.host,
                    headers: browser
                )
                #expect(response.status == .seeOther, "\(problem)")
                let back = try #require(Self.location(response))
                #expect(back.base == Self.redirect)
                #expect(back.query["error"] == expected, "\(problem)")
                #expect(back.query["iss"] == Self.issuer)
                #expect(back.query["state"] == (echoesState ? Self.state : nil))
                #expect(back.query["error_description"] != nil)
            }
            #expect(try await fixture.count("authorization_requests") == 1, "only the approval's")
        }
    }

    @Test(
        "For a client this browser never approved, the same errors are shown on our page: no open redirect (RFC 9700 §4.11.2)",
        arguments: Array(redirectErrors.indices)
    )
    func unapprovedClientErrorsStayHere(_ index: Int) async throws {
        let (problem, changes, extra, expected, _) = Self.redirectErrors[index]
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            let other = try await setUp(fixture, name: "Other", tenantsExist: true)
            try await fixture.application().test(.live) { client in
                // A fresh browser, and a browser that approved only another client.
                let elsewhere = try await Self.approvedBrowser(client, clientId: other.clientId)
                for headers in [HTTPFields(), elsewhere] {
                    let response = try await client.send(
                        Self.valid(setup.clientId, overriding: changes, extra: extra),
                        host: Self.host,
                        headers: headers
                    )
                    #expect(response.status == .badRequest, "\(problem)")
                    #expect(response.headers[.location] == nil)
                    #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                    #expect(response.body.contains(expected), "\(problem)")
                    #expect(!response.body.contains(Self.redirect), "the redirect URI is not offered as a link")
                }
            }
        }
    }

    @Test("Parameters sent empty count as omitted (OAuth 2.1 §3.1): an empty scope asks for the default scopes")
    func emptyParametersAreAbsent() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                let page = try await client.send(Self.valid(setup.clientId, overriding: ["scope": ""], extra: [("resource", "")]), host: Self.host)
                #expect(page.status == .ok, "\(page.body.prefix(300))")
                #expect(Self.form(page.body) != nil, "the consent page is shown")
            }
            #expect(try await fixture.count("authorization_requests") == 1)
        }
    }

    @Test("Expired authorization requests are deleted by the sweeper; live ones stay")
    func expiredRequestsDeleted() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture)
            try await fixture.application().test(.live) { client in
                for _ in 0..<3 {
                    let page = try await client.send(Self.valid(setup.clientId), host: Self.host)
                    #expect(page.status == .ok)
                }
            }
            try await fixture.client.query(
                """
                UPDATE gateway.authorization_requests SET expires_at = now() - interval '1 second'
                WHERE id IN (SELECT id FROM gateway.authorization_requests ORDER BY created_at LIMIT 2)
                """
            )
            let sweeper = ExpirySweeper(client: fixture.client, schema: fixture.schema, logger: fixture.logger)
            #expect(try await sweeper.deleteExpiredAuthorizationRequests() == 2)
            #expect(try await sweeper.deleteExpiredAuthorizationRequests() == 0)
            #expect(try await fixture.count("authorization_requests") == 1)
        }
    }

    @Test("offline_access needs the refresh_token grant")
    func offlineAccessNeedsRefreshGrant() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture, grants: ["authorization_code"])
            try await fixture.application().test(.live) { client in
                let browser = try await Self.approvedBrowser(client, clientId: setup.clientId)
                let response = try await client.send(
                    Self.valid(setup.clientId, overriding: ["scope": "mcp:tools offline_access"]),
                    host: Self.host,
                    headers: browser
                )
                #expect(Self.location(response)?.query["error"] == "invalid_scope")
            }
        }
    }

    @Test("A loopback redirect may use another port (RFC 8252); errors then go to the port presented")
    func loopbackPort() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture, redirects: ["http://127.0.0.1/cb"])
            try await fixture.application().test(.live) { client in
                let ok = try await client.send(Self.valid(setup.clientId, overriding: ["redirect_uri": "http://127.0.0.1:61000/cb"]), host: Self.host)
                #expect(ok.status == .ok)
                let browser = try await Self.approvedBrowser(client, clientId: setup.clientId)
                let failing = try await client.send(
                    Self.valid(
                        setup.clientId,
                        overriding: [
                            "redirect_uri": "http://127.0.0.1:61000/cb",
                            "response_type": "token",
                        ]
                    ),
                    host: Self.host,
                    headers: browser
                )
                #expect(Self.location(failing)?.base == "http://127.0.0.1:61000/cb")
                // Omitting redirect_uri is fine with exactly one registered.
                #expect(try await client.send(Self.valid(setup.clientId, overriding: ["redirect_uri": nil]), host: Self.host).status == .ok)
            }
        }
    }

    @Test("Without redirect_uri and with two registered, the request is refused on our page")
    func ambiguousRedirect() async throws {
        try await GatewayFixture.run { fixture in
            let setup = try await setUp(fixture, redirects: [Self.redirect, "https://app.example/cb"])
            try await fixture.application().test(.live) { client in
                let response = try await client.send(Self.valid(setup.clientId, overriding: ["redirect_uri": nil]), host: Self.host)
                #expect(response.status == .badRequest)
                #expect(response.headers[.location] == nil)
            }
        }
    }
}
