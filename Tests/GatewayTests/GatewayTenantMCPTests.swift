import AuthorizationGateway
import Foundation
import GatehouseEvents
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import ServiceFixtures
import Testing

/// A tenant's MCP endpoint through the admin API: hosted or proxied, validated field by field,
/// described by the OpenAPI document and announced by `tenant.updated` 1.2.
@Suite("Gateway: a tenant's MCP endpoint through the admin API")
struct GatewayTenantMCPTests {
    static let token = GatewayFixture.operatorToken
    static let tenant = """
        {"id": "acme", "display_name": "Acme", "hosts": ["acme.example"], "auth_mode": "oauth",
         "upstream": {"kind": "oidc", "issuer": "https://login.acme.example", "client_id": "gatehouse"}}
        """

    @Test("Set to proxy, read back, changed and announced; bad settings are 400 naming the field and change nothing")
    func proxySettings() async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        try await GatewayFixture.run { fixture in
            try await fixture.application().test(.live) { client in
                let created = try await client.send("/admin/tenants", method: .post, json: Self.tenant, token: Self.token)
                #expect(created.status == .created, "\(created.body)")
                #expect((created.json["mcp"] as? [String: Any])?["mode"] as? String == "hosted")
                let proxy = #"""
                    {"mcp": {"mode": "proxy", "upstream_url": "https://tools.acme.example/mcp", "timeout_seconds": 10,
                             "tool_scopes": [{"tool": "admin_*", "scopes": ["profile"]}], "hide_unauthorized_tools": true}}
                    """#
                let updated = try await client.send("/admin/tenants/acme", method: .patch, json: proxy, token: Self.token)
                #expect(updated.status == .ok, "\(updated.body)")
                let problems = document.validate(method: "PATCH", path: "/admin/tenants/{tenant}", status: 200, body: Data(updated.body.utf8))
                #expect(problems.isEmpty, "\(problems)")
                let mcp = try #require(updated.json["mcp"] as? [String: Any])
                #expect(mcp["mode"] as? String == "proxy" && mcp["assertion_header"] as? String == "Authorization")
                #expect(mcp["upstream_url"] as? String == "https://tools.acme.example/mcp" && mcp["timeout_seconds"] as? Int == 10)

                let invalid: [(String, String)] = [
                    (#"{"mcp": {"mode": "proxy"}}"#, "mcp.upstream_url"),
                    (#"{"mcp": {"mode": "proxy", "upstream_url": "http://tools.acme.example/mcp"}}"#, "mcp.upstream_url"),
                    (#"{"mcp": {"mode": "proxy", "upstream_url": "http://tools.acme.example/mcp", "allow_http": true}}"#, "mcp.upstream_url"),
                    (#"{"mcp": {"mode": "proxy", "upstream_url": "https://t.example/mcp", "timeout_seconds": 0}}"#, "mcp.timeout_seconds"),
                    (#"{"mcp": {"mode": "proxy", "upstream_url": "https://t.example/mcp", "assertion_header": "Cookie"}}"#, "mcp.assertion_header"),
                    (#"{"mcp": {"mode": "sideways"}}"#, "mcp.mode"),
                    (#"{"mcp": {"mode": "hosted", "tool_scopes": [{"tool": "a*b*", "scopes": ["email"]}]}}"#, "mcp.tool_scopes[0].tool"),
                    (#"{"mcp": {"mode": "hosted", "tool_scopes": [{"tool": "x", "scopes": ["admin"]}]}}"#, "mcp.tool_scopes[0].scopes"),
                    (#"{"mcp": {"mode": "hosted", "upstream_url": "https://t.example/mcp"}}"#, "mcp.upstream_url"),
                    (#"{"auth_mode": "none"}"#, "mcp.mode"),
                    (
                        #"{"mcp": {"mode": "proxy", "upstream_url": "https://t.example/mcp", "upstream_token_header": "Authorization"}}"#,
                        "mcp.upstream_token_header"
                    ),
                    (#"{"mcp": {"mode": "hosted", "upstream_token_header": "X-Upstream-Token"}}"#, "mcp.upstream_token_header"),
                    (#"{"mcp": {"mode": "proxy", "upstream_uri": "https://t.example/mcp"}}"#, "mcp.upstream_uri"),
                ]
                for (body, field) in invalid {
                    let refused = try await client.send("/admin/tenants/acme", method: .patch, json: body, token: Self.token)
                    #expect(refused.status == .badRequest, "\(body): \(refused.body)")
                    #expect((refused.json["error_description"] as? String)?.contains(field) == true, "\(body): \(refused.body)")
                }
                let unchanged = try await client.send("/admin/tenants/acme", method: .get, token: Self.token)
                #expect((unchanged.json["mcp"] as? [String: Any])?["upstream_url"] as? String == "https://tools.acme.example/mcp")
                #expect(unchanged.json["version"] as? Int == 2)

                let local = #"{"mcp": {"mode": "proxy", "upstream_url": "http://sample-mcp:8000/mcp", "allow_http": true}}"#
                #expect(try await client.send("/admin/tenants/acme", method: .patch, json: local, token: Self.token).status == .ok)
            }
            let rows = try await fixture.client.query("SELECT envelope FROM gateway.outbox WHERE event_type = 'tenant.updated' ORDER BY id")
            var events: [EventEnvelope<TenantUpdated>] = []
            for try await text in rows.decode(String.self) { events.append(try EventCodec.decode(TenantUpdated.self, from: Array(text.utf8))) }
            #expect(events.count == 3)
            #expect(events[0].payload.mcp == MCPEndpointSettings())
            let announced = try #require(events[1].payload.mcp)
            #expect(events[1].header.schemaVersion == TenantUpdated.schemaVersion)
            #expect(announced.mode == .proxy && announced.hideUnauthorizedTools)
            #expect(announced.requiredScopes(forTool: "admin_delete") == ["profile"] && announced.requiredScopes(forTool: "other").isEmpty)
            #expect(events[2].payload.mcp?.upstreamUrl == "http://sample-mcp:8000/mcp")
        }
    }
}
