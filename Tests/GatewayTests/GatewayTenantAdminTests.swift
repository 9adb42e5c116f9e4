import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import ServiceFixtures
import Testing

/// The admin API's tenants, every response checked against docs/openapi/admin.json.
@Suite("Gateway: tenant admin API")
struct GatewayTenantAdminTests {
    static let token = GatewayFixture.operatorToken
    static let oidc = """
        {"id": "acme", "display_name": "Acme MCP", "hosts": ["MCP.Acme.example"], "auth_mode": "oauth",
         "upstream": {"kind": "oidc", "issuer": "https://login.acme.example", "client_id": "gatehouse",
                      "extra_authorize_parameters": {"audience": "https://api.acme.example"}},
         "client_secret": "upstream-client-secret-value"}
        """

    func checked(_ result: HTTPResult, _ method: String, _ template: String, _ document: OpenAPIDocument) -> HTTPResult {
        let problems = document.validate(method: method, path: template, status: Int(result.status.code), body: Data(result.body.utf8))
        #expect(problems.isEmpty, "\(method) \(template) \(result.status.code): \(problems)")
        return result
    }

    @Test("Create, read, list, update and disable a tenant; the upstream secret is stored sealed and never returned")
    func lifecycle() async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        #expect(
            document.operations.isSuperset(of: [
                "GET /admin/tenants", "POST /admin/tenants", "GET /admin/tenants/{tenant}",
                "PATCH /admin/tenants/{tenant}", "GET /admin/tenants/{tenant}/clients",
            ])
        )
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                let created = checked(
                    try await client.send("/admin/tenants", method: .post, json: Self.oidc, token: Self.token),
                    "POST",
                    "/admin/tenants",
                    document
                )
                #expect(created.status == .created)
                #expect(created.headers[.location] == "/admin/tenants/acme")
                #expect(created.json["hosts"] as? [String] == ["mcp.acme.example"])
                #expect(created.json["has_client_secret"] as? Bool == true)
                #expect(!created.body.contains("upstream-client-secret-value"))
                let upstream = created.json["upstream"] as? [String: Any]
                #expect(upstream?["scopes"] as? [String] == ["openid", "email", "profile"])
                #expect((upstream?["extra_authorize_parameters"] as? [String: String])?["audience"] == "https://api.acme.example")

                // Sealed at rest under the key ring, bound to the tenant.
                let rows = try await fixture.client.query("SELECT upstream_client_secret FROM gateway.tenants WHERE id = 'acme'")
                for try await sealed in rows.decode(String.self) {
                    #expect(!sealed.contains("upstream-client-secret-value"))
                    #expect(KeyRing.keyID(of: sealed) == "k1")
                    let record = try #require(try await fixture.parts.tenants.records().first)
                    #expect(try fixture.parts.tenants.clientSecret(of: record) == "upstream-client-secret-value")
                    #expect(throws: KeyRing.Failure.self) {
                        try fixture.configuration.keyRing.open(sealed, associatedData: "gatehouse/upstream-client-secret/other")
                    }
                }

                let listed = checked(try await client.send("/admin/tenants", token: Self.token), "GET", "/admin/tenants", document)
                #expect((listed.json["tenants"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["acme"])
                let one = checked(try await client.send("/admin/tenants/acme", token: Self.token), "GET", "/admin/tenants/{tenant}", document)
                #expect(one.json["display_name"] as? String == "Acme MCP")

                let github = """
                    {"display_name": "Acme (GitHub)", "upstream": {"kind": "oauth2", "client_id": "gh-client",
                     "authorization_endpoint": "https://github.com/login/oauth/authorize", "token_endpoint": "https://github.com/login/oauth/access_token",
                     "user_endpoint": "https://api.github.com/user", "emails_endpoint": "https://api.github.com/user/emails"},
                     "email_linking": "verified_email"}
                    """
                let updated = checked(
                    try await client.send("/admin/tenants/acme", method: .patch, json: github, token: Self.token),
                    "PATCH",
                    "/admin/tenants/{tenant}",
                    document
                )
                #expect(updated.status == .ok)
                #expect(updated.json["version"] as? Int == 2)
                #expect(updated.json["email_linking"] as? String == "verified_email")
                #expect((updated.json["upstream"] as? [String: Any])?["kind"] as? String == "oauth2")
                #expect(updated.json["has_client_secret"] as? Bool == true, "the secret is kept when not given")

                let disabled = checked(
                    try await client.send("/admin/tenants/acme", method: .patch, json: #"{"disabled": true}"#, token: Self.token),
                    "PATCH",
                    "/admin/tenants/{tenant}",
                    document
                )
                #expect(disabled.json["disabled"] as? Bool == true)
                let clients = checked(
                    try await client.send("/admin/tenants/acme/clients", token: Self.token),
                    "GET",
                    "/admin/tenants/{tenant}/clients",
                    document
                )
                #expect((clients.json["clients"] as? [Any])?.isEmpty == true)

                let lifetimes = checked(
                    try await client.send(
                        "/admin/tenants/acme",
                        method: .patch,
                        json: #"{"token_lifetimes": {"access_token_seconds": 600, "refresh_token_seconds": 86400}}"#,
                        token: Self.token
                    ),
                    "PATCH",
                    "/admin/tenants/{tenant}",
                    document
                )
                #expect((lifetimes.json["token_lifetimes"] as? [String: Int])?["access_token_seconds"] == 600)
                let tooLong = try await client.send(
                    "/admin/tenants/acme",
                    method: .patch,
                    json: #"{"token_lifetimes": {"access_token_seconds": 90000, "refresh_token_seconds": 86400}}"#,
                    token: Self.token
                )
                #expect(tooLong.status == .badRequest)
                #expect((tooLong.json["error_description"] as? String)?.hasPrefix("token_lifetimes.access_token_seconds") == true)
            }
            // Every change is announced, with the tenant's version, for the token service and the tool host.
            #expect(try await fixture.eventTypes() == Array(repeating: "tenant.updated", count: 4))
            let rows = try await fixture.client.query("SELECT envelope FROM gateway.outbox ORDER BY id")
            var versions: [Int64] = []
            for try await envelope in rows.decode(String.self) {
                #expect(!envelope.contains("upstream-client-secret-value") && !envelope.contains("client_secret"))
                let event = try EventCodec.decode(TenantUpdated.self, from: Array(envelope.utf8))
                versions.append(event.header.aggregateVersion)
                if versions.count == 4 { #expect(event.payload.accessTokenSeconds == 600 && event.payload.disabled) }
            }
            #expect(versions == [1, 2, 3, 4])
        }
    }

    static let invalid: [(String, String)] = [
        (#"{"display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oidc", "issuer": "https://i.example", "client_id": "c"}}"#, "id"),
        (#"{"id": "Bad_ID", "display_name": "x", "hosts": ["a.example"], "auth_mode": "none"}"#, "id"),
        (#"{"id": "t", "display_name": "", "hosts": ["a.example"], "auth_mode": "none"}"#, "display_name"),
        (#"{"id": "t", "display_name": "x", "hosts": [], "auth_mode": "none"}"#, "hosts"),
        (#"{"id": "t", "display_name": "x", "hosts": ["https://a.example"], "auth_mode": "none"}"#, "hosts"),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example/path"], "auth_mode": "none"}"#, "hosts"),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example", "A.example"], "auth_mode": "none"}"#, "hosts"),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example:99999"], "auth_mode": "none"}"#, "hosts"),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example"], "auth_mode": "oauth"}"#, "upstream"),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oidc", "client_id": "c"}}"#, "upstream.issuer"),
        (
            #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oidc", "issuer": "http://idp.example", "client_id": "c"}}"#,
            "upstream.issuer"
        ),
        (
            #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oauth2", "client_id": "c", "authorization_endpoint": "https://g.example/a"}}"#,
            "upstream.token_endpoint"
        ),
        (
            #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oidc", "issuer": "https://i.example"}}"#,
            "upstream.client_id"
        ),
        (
            #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oidc", "issuer": "https://i.example", "client_id": "c", "extra_authorize_parameters": {"redirect_uri": "https://evil.example"}}}"#,
            "upstream.extra_authorize_parameters"
        ),
        (
            #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "upstream": {"kind": "oidc", "issuer": "https://i.example", "client_id": "c", "scopes": ["bad scope"]}}"#,
            "upstream.scopes"
        ),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example"], "auth_mode": "none", "email_linking": "by_name"}"#, "email_linking"),
        (#"{"id": "t", "display_name": "x", "hosts": ["a.example"], "auth_mode": "none", "client_secret": ""}"#, "client_secret"),
    ]

    @Test("Invalid tenant definitions are 400 naming the field, and nothing is written", arguments: Array(invalid.indices))
    func invalidTenant(_ index: Int) async throws {
        let (body, field) = Self.invalid[index]
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                let response = checked(
                    try await client.send("/admin/tenants", method: .post, json: body, token: Self.token),
                    "POST",
                    "/admin/tenants",
                    document
                )
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.json["error"] as? String == "invalid_tenant")
                #expect((response.json["error_description"] as? String)?.hasPrefix(field + ":") == true, "\(response.body)")
            }
            #expect(try await fixture.count("tenants") == 0)
            #expect(try await fixture.count("tenant_hosts") == 0)
        }
    }

    @Test("Client profiles are set through the admin API, described by the OpenAPI document and announced by tenant.updated")
    func clientProfiles() async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                let created = try await client.send(
                    "/admin/tenants",
                    method: .post,
                    json: #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "auth_mode": "none"}"#,
                    token: Self.token
                )
                #expect(created.status == .created)
                let profiles = #"""
                    {"client_profiles": {"defaults": {"client_authentication": "registered"},
                     "overrides": [{"document_domain": "claude.ai", "refresh_grace_seconds": 120},
                                   {"client_id": "mcp_client_cli", "access_token_seconds": 86400}]}}
                    """#
                let updated = checked(
                    try await client.send("/admin/tenants/t", method: .patch, json: profiles, token: Self.token),
                    "PATCH",
                    "/admin/tenants/{tenant}",
                    document
                )
                #expect(updated.status == .ok, "\(updated.body)")
                let stored = try #require(updated.json["client_profiles"] as? [String: Any])
                #expect((stored["defaults"] as? [String: Any])?["client_authentication"] as? String == "registered")
                #expect((stored["overrides"] as? [[String: Any]])?.count == 2)

                let invalid = try await client.send(
                    "/admin/tenants/t",
                    method: .patch,
                    json:
                        #"{"client_profiles": {"defaults": {}, "overrides": [{"document_domain": "claude.ai", "client_id": "x"}]}}"#,
                    token: Self.token
                )
                #expect(invalid.status == .badRequest && invalid.json["error"] as? String == "invalid_tenant")
                #expect((invalid.json["error_description"] as? String)?.hasPrefix("client_profiles.overrides[0]") == true, "\(invalid.body)")
                let typo = try await client.send(
                    "/admin/tenants/t",
                    method: .patch,
                    json: #"{"client_profiles": {"defaults": {"grace": 5}, "overrides": []}}"#,
                    token: Self.token
                )
                #expect(typo.status == .badRequest && (typo.json["error_description"] as? String)?.contains("client_profiles.defaults.grace") == true)
            }
            let rows = try await fixture.client.query("SELECT envelope FROM gateway.outbox WHERE event_type = 'tenant.updated' ORDER BY id")
            var events: [EventEnvelope<TenantUpdated>] = []
            for try await text in rows.decode(String.self) { events.append(try EventCodec.decode(TenantUpdated.self, from: Array(text.utf8))) }
            #expect(events.count == 2)
            #expect(events.last?.header.schemaVersion == TenantUpdated.schemaVersion)
            let announced = try #require(events.last?.payload.clientProfiles)
            #expect(announced.profile(for: "mcp_client_cli") == ClientProfile(accessTokenSeconds: 86_400, clientAuthentication: .registered))
            #expect(announced.profile(for: "https://claude.ai/c.json").refreshGraceSeconds == 120)
        }
    }

    @Test("Unknown fields are refused by POST and PATCH, each named; nothing changes")
    func unknownFields() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                let typo = try await client.send(
                    "/admin/tenants",
                    method: .post,
                    json:
                        #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "auth_mode": "none", "acces_token_seconds": 60}"#,
                    token: Self.token
                )
                #expect(typo.status == .badRequest && typo.json["error"] as? String == "invalid_request")
                #expect((typo.json["error_description"] as? String)?.contains("acces_token_seconds") == true)
                #expect(try await fixture.count("tenants") == 0)

                let created = try await client.send(
                    "/admin/tenants",
                    method: .post,
                    json: #"{"id": "t", "display_name": "x", "hosts": ["a.example"], "auth_mode": "none"}"#,
                    token: Self.token
                )
                #expect(created.status == .created, "\(created.body)")
                for (body, field) in [
                    (#"{"displayname": "y"}"#, "displayname"),
                    (#"{"display_name": "y", "upstream": {"kind": "oidc", "isuer": "https://i.example"}}"#, "upstream.isuer"),
                    (#"{"token_lifetimes": {"access_token_seconds": 600, "refresh": 1}}"#, "token_lifetimes.refresh"),
                ] {
                    let refused = try await client.send("/admin/tenants/t", method: .patch, json: body, token: Self.token)
                    #expect(refused.status == .badRequest && refused.json["error"] as? String == "invalid_request", "\(body)")
                    #expect((refused.json["error_description"] as? String)?.contains(field) == true, "\(refused.body)")
                }
                let now = try await client.send("/admin/tenants/t", token: Self.token)
                #expect(now.json["display_name"] as? String == "x")
            }
        }
    }

    @Test("Conflicts: an existing id, a host of another tenant (and the change is not half-applied)")
    func conflicts() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme", hosts: ["acme.example"])
            try await fixture.tenant("globex", hosts: ["globex.example"])
            try await fixture.application().test(.live) { client in
                let again = try await client.send(
                    "/admin/tenants",
                    method: .post,
                    json: Self.oidc.replacingOccurrences(of: "MCP.Acme.example", with: "other.example"),
                    token: Self.token
                )
                #expect(again.status == .conflict)
                let taken = try await client.send(
                    "/admin/tenants/globex",
                    method: .patch,
                    json: #"{"hosts": ["globex2.example", "acme.example"], "display_name": "Renamed"}"#,
                    token: Self.token
                )
                #expect(taken.status == .conflict)
                let globex = try await client.send("/admin/tenants/globex", token: Self.token)
                #expect(globex.json["hosts"] as? [String] == ["globex.example"])
                #expect(globex.json["display_name"] as? String == "Tenant globex")
                let emptied = try await client.send("/admin/tenants/globex", method: .patch, json: #"{"hosts": []}"#, token: Self.token)
                #expect(emptied.status == .badRequest)
                #expect(emptied.json["error"] as? String == "invalid_tenant")
                #expect(try await client.send("/admin/tenants/nope", token: Self.token).status == .notFound)
                #expect(try await client.send("/admin/tenants/nope", method: .patch, json: "{}", token: Self.token).status == .notFound)
                let wrongType = try await client.send(
                    "/admin/tenants",
                    method: .post,
                    headers: [.contentType: "text/plain"],
                    json: "{}",
                    token: Self.token
                )
                #expect(wrongType.status == .unsupportedMediaType)
                let garbage = try await client.send("/admin/tenants", method: .post, json: "{not json", token: Self.token)
                #expect(garbage.status == .badRequest)
            }
            #expect(try await fixture.count("tenants") == 2)
        }
    }

    @Test(
        "Every admin operation needs the operator token",
        arguments: [
            ("GET", "/admin/tenants"), ("POST", "/admin/tenants"), ("GET", "/admin/tenants/acme"), ("PATCH", "/admin/tenants/acme"),
            ("GET", "/admin/tenants/acme/clients"),
        ]
    )
    func needsToken(_ method: String, _ path: String) async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                for token in [nil, "wrong-token-value-0123456789abcdefghij"] {
                    let response = try await client.send(
                        path,
                        method: HTTPRequest.Method(method)!,
                        json: method == "GET" ? nil : #"{"disabled": true}"#,
                        token: token
                    )
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] != nil)
                }
            }
            let tenant = try await fixture.parts.tenants.get("acme")
            #expect(tenant?.disabled == false)
            #expect(try await fixture.count("tenants") == 1)
        }
    }
}
