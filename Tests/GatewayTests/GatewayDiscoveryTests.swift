import AuthorizationGateway
import Foundation
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceFixtures
import Testing

/// Tenants by host and their discovery documents (RFC 8414, OpenID discovery, RFC 9728),
/// against a live server and a real PostgreSQL (docs/design.md invariant 7).
@Suite("Gateway: tenants by host and discovery")
struct GatewayDiscoveryTests {
    @Test("Each tenant is its own issuer: metadata, OpenID configuration and protected resource metadata")
    func discoveryDocuments() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme", hosts: ["mcp.acme.example", "acme.example:8443"])
            try await fixture.tenant("globex")
            try await fixture.application().test(.live) { client in
                let metadata = try await client.send("/.well-known/oauth-authorization-server", host: "mcp.acme.example")
                #expect(metadata.status == .ok)
                let document = metadata.json
                #expect(document["issuer"] as? String == "https://mcp.acme.example")
                #expect(document["code_challenge_methods_supported"] as? [String] == ["S256"])
                #expect(document["registration_endpoint"] as? String == "https://mcp.acme.example/oauth/register")
                #expect(document["authorization_endpoint"] as? String == "https://mcp.acme.example/oauth/authorize")
                #expect(document["token_endpoint"] as? String == "https://mcp.acme.example/oauth/token")
                #expect(document["revocation_endpoint"] as? String == "https://mcp.acme.example/oauth/revoke")
                #expect(document["introspection_endpoint"] as? String == "https://mcp.acme.example/oauth/introspect")
                #expect(document["authorization_response_iss_parameter_supported"] as? Bool == true)
                #expect(document["client_id_metadata_document_supported"] as? Bool == true)
                #expect((document["scopes_supported"] as? [String])?.contains("offline_access") == true)
                #expect(document["response_types_supported"] as? [String] == ["code"])

                let openid = try await client.send("/.well-known/openid-configuration", host: "mcp.acme.example").json
                #expect(openid["issuer"] as? String == "https://mcp.acme.example")
                #expect(openid["subject_types_supported"] as? [String] == ["public"])
                #expect(openid["code_challenge_methods_supported"] as? [String] == ["S256"])

                for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
                    let resource = try await client.send(path, host: "mcp.acme.example")
                    #expect(resource.status == .ok)
                    #expect(resource.json["resource"] as? String == "https://mcp.acme.example/mcp")
                    #expect(resource.json["authorization_servers"] as? [String] == ["https://mcp.acme.example"])
                    #expect((resource.json["scopes_supported"] as? [String])?.contains("offline_access") == false)
                    #expect(resource.json["bearer_methods_supported"] as? [String] == ["header"])
                }

                // Another host of the same tenant is its own origin (port included); another tenant is another issuer.
                let other = try await client.send("/.well-known/oauth-authorization-server", host: "acme.example:8443").json
                #expect(other["issuer"] as? String == "https://acme.example:8443")
                let globex = try await client.send("/.well-known/oauth-authorization-server", host: "GLOBEX.example").json
                #expect(globex["issuer"] as? String == "https://globex.example")
            }
        }
    }

    @Test("A request naming two Host headers is refused with 400 (RFC 9112 §3.2), whichever names a tenant")
    func twoHosts() async throws {
        try await GatewayFixture.run(trustProxy: false) { fixture in
            try await fixture.tenant("acme", hosts: ["localhost", "mcp.acme.example"])
            try await fixture.application().test(.live) { client in
                let single = try await client.send("/.well-known/oauth-authorization-server")
                #expect(single.status == .ok, "\(single.body)")
                let double = try await client.send("/.well-known/oauth-authorization-server", headers: [HTTPField.Name("Host")!: "mcp.acme.example"])
                #expect(double.status == .badRequest && double.json["error"] as? String == "invalid_request")
            }
        }
    }

    @Test(
        "Every discovery document answers a browser's CORS preflight, without credentials",
        arguments: [
            "/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/mcp", "/.well-known/openid-configuration",
            "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp",
        ]
    )
    func preflight(_ path: String) async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme", hosts: ["mcp.acme.example"])
            try await fixture.application().test(.live) { client in
                let preflight = try await client.send(
                    path,
                    method: .options,
                    host: "mcp.acme.example",
                    headers: [
                        .origin: "https://app.example", HTTPField.Name("Access-Control-Request-Method")!: "GET",
                        HTTPField.Name("Access-Control-Request-Headers")!: "mcp-protocol-version",
                    ]
                )
                #expect(preflight.status == .noContent, "\(path)")
                #expect(preflight.headers[.accessControlAllowOrigin] == "*")
                #expect(preflight.headers[.accessControlAllowMethods]?.contains("GET") == true)
                #expect(preflight.headers[.accessControlAllowHeaders]?.lowercased().contains("mcp-protocol-version") == true)
                #expect(preflight.headers[.accessControlAllowCredentials] == nil)
                let document = try await client.send(path, host: "mcp.acme.example", headers: [.origin: "https://app.example"])
                #expect(document.status == .ok && document.headers[.accessControlAllowOrigin] == "*")
                #expect(try await client.send(path, method: .options, host: "unknown.example").status == .notFound)
            }
        }
    }

    @Test(
        "An unknown host is 404 on every tenant endpoint: never a default tenant",
        arguments: [
            "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ]
    )
    func unknownHost(_ path: String) async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let unknown = try await client.send(path, host: "evil.example")
                #expect(unknown.status == .notFound)
                #expect(unknown.json["error"] as? String == "not_found")
                // Without a forwarded host the request is for "localhost", which no tenant has.
                #expect(try await client.send(path).status == .notFound)
                let registration = try await client.send(
                    "/oauth/register",
                    method: .post,
                    host: "evil.example",
                    json: #"{"redirect_uris":["https://app.example/cb"]}"#
                )
                #expect(registration.status == .notFound)
            }
            #expect(try await fixture.count("clients") == 0)
        }
    }

    @Test("Forwarded headers are ignored from a peer that is not a configured proxy")
    func untrustedForwardedHost() async throws {
        try await GatewayFixture.run(trustProxy: false) { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let response = try await client.send(
                    "/.well-known/oauth-authorization-server",
                    host: "acme.example",
                    headers: [HTTPField.Name("X-Forwarded-Proto")!: "http"]
                )
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("A trusted proxy's X-Forwarded-Proto sets the scheme of the issuer")
    func forwardedProto() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let response = try await client.send(
                    "/.well-known/oauth-authorization-server",
                    host: "acme.example",
                    headers: [HTTPField.Name("X-Forwarded-Proto")!: "http"]
                )
                #expect(response.json["issuer"] as? String == "http://acme.example")
            }
        }
    }

    @Test("A disabled tenant disappears at once, and comes back when enabled, without a restart")
    func disableAndEnable() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let path = "/.well-known/oauth-authorization-server"
                #expect(try await client.send(path, host: "acme.example").status == .ok)
                let disabled = try await client.send(
                    "/admin/tenants/acme",
                    method: .patch,
                    json: #"{"disabled": true}"#,
                    token: GatewayFixture.operatorToken
                )
                #expect(disabled.status == .ok)
                #expect(try await client.send(path, host: "acme.example").status == .notFound)
                _ = try await client.send("/admin/tenants/acme", method: .patch, json: #"{"disabled": false}"#, token: GatewayFixture.operatorToken)
                #expect(try await client.send(path, host: "acme.example").status == .ok)
                // Moving the tenant to a new host takes effect too.
                _ = try await client.send(
                    "/admin/tenants/acme",
                    method: .patch,
                    json: #"{"hosts": ["new.acme.example"]}"#,
                    token: GatewayFixture.operatorToken
                )
                #expect(try await client.send(path, host: "acme.example").status == .notFound)
                #expect(try await client.send(path, host: "new.acme.example").json["issuer"] as? String == "https://new.acme.example")
            }
        }
    }

    @Test(
        "Trusted proxy networks match addresses by prefix",
        arguments: [
            ("10.0.0.0/8", "10.1.2.3", true), ("10.0.0.0/8", "11.0.0.1", false), ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false), ("::1", "::1", true), ("fd00::/8", "fd12::1", true), ("fd00::/8", "fe80::1", false),
            ("10.0.0.0/8", "::ffff:10.0.0.1", false), ("192.168.0.0/16", "192.168.255.1", true),
        ]
    )
    func networks(_ network: String, _ address: String, _ expected: Bool) throws {
        #expect(try #require(IPNetwork(network)).contains(address) == expected)
    }

    @Test("Bad network specifications are refused", arguments: ["10.0.0.0/33", "nonsense", "::1/129", "10.0.0.0/-1", ""])
    func badNetworks(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }
}
