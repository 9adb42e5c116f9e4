import AuthorizationGateway
import Crypto
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

/// Client credentials at the gateway: the tenant setting, its metadata, and clients the operator
/// registers through the admin API (checked against docs/openapi/admin.json).
@Suite("Gateway: client credentials clients and metadata")
struct GatewayServiceClientTests {
    static let token = GatewayFixture.operatorToken
    static let tenant = """
        {"id": "acme", "display_name": "Acme MCP", "hosts": ["mcp.acme.example"], "auth_mode": "oauth",
         "upstream": {"kind": "oidc", "issuer": "https://login.acme.example", "client_id": "gatehouse"}}
        """

    static var publicJWK: String {
        let raw = Array(P256.Signing.PrivateKey().publicKey.rawRepresentation)
        let x = Base64URL.encode(Array(raw[0..<32]))
        let y = Base64URL.encode(Array(raw[32..<64]))
        return #"{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "\#(x)", "y": "\#(y)"}"#
    }

    @Test("Metadata announces client_credentials, private_key_jwt and DPoP only while the tenant offers them")
    func metadata() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                #expect(try await client.send("/admin/tenants", method: .post, json: Self.tenant, token: Self.token).status == .created)
                func document() async throws -> [String: Any] {
                    try await client.send("/.well-known/oauth-authorization-server", host: "mcp.acme.example").json
                }
                let before = try await document()
                #expect(before["grant_types_supported"] as? [String] == ["authorization_code", "refresh_token"])
                #expect((before["token_endpoint_auth_methods_supported"] as? [String])?.contains("private_key_jwt") == false)
                #expect(before["token_endpoint_auth_signing_alg_values_supported"] == nil)

                #expect(before["dpop_signing_alg_values_supported"] == nil)
                let on = #"{"grants": {"client_credentials": true, "dpop": true}}"#
                let updated = try await client.send("/admin/tenants/acme", method: .patch, json: on, token: Self.token)
                #expect(updated.status == .ok && (updated.json["grants"] as? [String: Any])?["client_credentials"] as? Bool == true)
                let after = try await document()
                #expect((after["grant_types_supported"] as? [String])?.contains("client_credentials") == true)
                #expect((after["token_endpoint_auth_methods_supported"] as? [String])?.contains("private_key_jwt") == true)
                let algorithms = after["token_endpoint_auth_signing_alg_values_supported"] as? [String]
                #expect(algorithms?.contains("ES256") == true && algorithms?.contains("none") == false && algorithms?.contains("HS256") == false)
                #expect(after["dpop_signing_alg_values_supported"] as? [String] == ["ES256", "EdDSA", "PS256", "RS256"])
                let resource = try await client.send("/.well-known/oauth-protected-resource/mcp", host: "mcp.acme.example").json
                #expect(resource["dpop_bound_access_tokens_required"] as? Bool == false)
                #expect((resource["dpop_signing_alg_values_supported"] as? [String])?.contains("ES256") == true)

                let typo = try await client.send(
                    "/admin/tenants/acme",
                    method: .patch,
                    json: #"{"grants": {"client_credential": true}}"#,
                    token: Self.token
                )
                #expect(typo.status == .badRequest && typo.body.contains("grants.client_credential"))
            }
            // Announced to the token service with the rest of the tenant.
            let rows = try await fixture.client.query("SELECT envelope FROM gateway.outbox WHERE event_type = 'tenant.updated' ORDER BY id")
            var events: [TenantUpdated] = []
            for try await text in rows.decode(String.self) {
                events.append(try EventCodec.decode(TenantUpdated.self, from: Array(text.utf8)).payload)
            }
            #expect(events.map { $0.grants?.clientCredentials } == [false, true])
        }
    }

    @Test("The operator registers client_secret_basic and private_key_jwt clients; the secret is shown once and announced only as a hash")
    func register() async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        #expect(document.operations.contains("POST /admin/tenants/{tenant}/clients"))
        let checked = GatewayTenantAdminTests().checked
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                #expect(try await client.send("/admin/tenants", method: .post, json: Self.tenant, token: Self.token).status == .created)
                let path = "/admin/tenants/acme/clients"
                let basic = checked(
                    try await client.send(path, method: .post, json: #"{"client_name": "Nightly sync"}"#, token: Self.token),
                    "POST",
                    "/admin/tenants/{tenant}/clients",
                    document
                )
                #expect(basic.status == .created && basic.headers[.cacheControl] == "no-store")
                #expect(basic.json["grant_types"] as? [String] == ["client_credentials"] && basic.json["scope"] as? String == "mcp:tools")
                let secret = try #require(basic.json["client_secret"] as? String)

                let signed = checked(
                    try await client.send(
                        path,
                        method: .post,
                        json: #"{"client_name": "Agent", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [\#(Self.publicJWK)]}}"#,
                        token: Self.token
                    ),
                    "POST",
                    "/admin/tenants/{tenant}/clients",
                    document
                )
                #expect(signed.status == .created && signed.json["client_secret"] == nil)

                let listed = checked(
                    try await client.send(path, method: .get, token: Self.token),
                    "GET",
                    "/admin/tenants/{tenant}/clients",
                    document
                )
                let clients = listed.json["clients"] as? [[String: Any]] ?? []
                #expect(clients.count == 2 && clients.allSatisfy { $0["registered_by"] as? String == "operator" && $0["expires_at"] == nil })
                #expect(!listed.body.contains(secret))
                let rows = try await fixture.client.query(
                    "SELECT envelope FROM gateway.outbox WHERE event_type = 'client.registered' ORDER BY id"
                )
                var announced: [ClientRegistered] = []
                for try await text in rows.decode(String.self) {
                    #expect(!text.contains(secret))
                    announced.append(try EventCodec.decode(ClientRegistered.self, from: Array(text.utf8)).payload)
                }
                #expect(announced.map(\.tokenEndpointAuthMethod) == ["client_secret_basic", "private_key_jwt"])
                #expect(announced[0].clientSecretHash == SecretHash.of(secret) && announced[0].jwks == nil)
                #expect(announced[1].clientSecretHash == nil && announced[1].jwks?.keys.first?["kid"] == "k1")
            }
        }
    }

    static let invalid: [(String, String)] = [
        (#"{}"#, "client_name"),
        (#"{"client_name": "x", "token_endpoint_auth_method": "none"}"#, "token_endpoint_auth_method"),
        (#"{"client_name": "x", "token_endpoint_auth_method": "client_secret_post"}"#, "token_endpoint_auth_method"),
        (#"{"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"}"#, "jwks: is required"),
        (#"{"client_name": "x", "jwks": {"keys": []}}"#, "jwks: is only for private_key_jwt"),
        (#"{"client_name": "x", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}"#, "jwks: must hold 1 to"),
        (
            #"{"client_name": "x", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}}"#,
            "private member k"
        ),
        (
            #"{"client_name": "x", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC", "kid": "a", "key_ops": ["sign"]}]}}"#,
            "jwks"
        ),
        (#"{"client_name": "x", "scope": "mcp:tools email"}"#, "scope"),
        (#"{"client_name": "x", "scope": "offline_access"}"#, "scope"),
        (#"{"client_name": "x", "redirect_uris": ["https://a.example/cb"]}"#, "Unknown field: redirect_uris"),
        (#"{"client_name": 7}"#, "client_name"),
    ]

    @Test("A bad client document is 400 naming the field, and nothing is registered", arguments: invalid.indices)
    func invalidClient(_ index: Int) async throws {
        let (body, field) = Self.invalid[index]
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                #expect(try await client.send("/admin/tenants", method: .post, json: Self.tenant, token: Self.token).status == .created)
                let refused = try await client.send("/admin/tenants/acme/clients", method: .post, json: body, token: Self.token)
                #expect(refused.status == .badRequest, "\(refused.body)")
                #expect(refused.body.contains(field), "\(refused.body)")
                #expect(try await client.send("/admin/tenants/nope/clients", method: .post, json: body, token: Self.token).status == .notFound)
                #expect(try await client.send("/admin/tenants/acme/clients", method: .post, json: body, token: nil).status == .unauthorized)
            }
            #expect(try await fixture.client.rowCount(of: "clients", in: fixture.schema) == 0)
        }
    }

    @Test("Dynamic registration never offers client_credentials")
    func dynamicRegistration() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                let enabled = Self.tenant.replacingOccurrences(
                    of: #""auth_mode": "oauth","#,
                    with: #""auth_mode": "oauth", "grants": {"client_credentials": true},"#
                )
                #expect(try await client.send("/admin/tenants", method: .post, json: enabled, token: Self.token).status == .created)
                let refused = try await client.send(
                    "/oauth/register",
                    method: .post,
                    host: "mcp.acme.example",
                    json: #"{"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}"#
                )
                #expect(refused.status == .badRequest && refused.json["error"] as? String == "invalid_client_metadata")
            }
        }
    }
}
