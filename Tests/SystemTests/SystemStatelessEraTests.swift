import Foundation
import GatehouseTestSupport
import MCP
import PostgresNIO
import Testing

/// Both eras of MCP end to end, services as processes behind the TLS front door: the official
/// Python MCP SDK's client (which speaks 2026-07-28, and signs in with its own OAuth client) and
/// the MCP Swift SDK's (2025) against the same tenant, hosted and then fronting a Python MCP SDK
/// server.
@Suite("System: the stateless era end to end")
struct SystemStatelessEraTests {
    @Test("The Python SDK's client negotiates 2026-07-28 with the hosted tools and through the proxy; the Swift SDK's keeps 2025")
    func bothErasThroughTheFrontDoor() async throws {
        try await SystemProxyTests.withPlatform { platform, github, upstreamBase in
            let origin = platform.frontDoor.origin
            try await platform.createTenant(upstream: github.app(at: upstreamBase))
            let token = try await PlatformClient.with { http in
                let endpoints = OAuthEndpoints(origin: origin)
                return try await http.signIn(endpoints, clientId: try await http.register(endpoints), scopes: ["mcp:tools", "email"]).access
            }

            // The Python client signs in itself: metadata discovery from the 401, registration,
            // authorization with PKCE through our consent page and the upstream, the code exchange.
            let hosted = try await runPythonClient("Tests/Upstreams/stateless_client.py", arguments: [origin + "/mcp", "login", "whoami"])
            #expect(hosted["version"] as? String == "2026-07-28", "\(hosted)")
            #expect(hosted["tools"] as? [String] == ["get_support", "list_my_support_requests", "whoami"], "\(hosted)")
            #expect((hosted["text"] as? String)?.contains("at tenant acme") == true, "\(hosted)")
            #expect(hosted["is_error"] as? Bool == false)

            // The 2025 era, in the same run, with the Swift SDK's client.
            let octo = try await ToolHostEndToEndTests.signedInClient(platform: platform, github: github)
            let whoami = ToolHostEndToEndTests.text(try await octo.callTool(name: "whoami").content)
            #expect(whoami.contains("at tenant acme"), "\(whoami)")
            await octo.disconnect()

            // The same tenant now fronts a Python MCP SDK server; the new era passes through.
            let upstream = try await PythonUpstream(script: "examples/python-mcp-server/server.py", issuer: origin)
            defer { Task { await upstream.stop() } }
            try await platform.updateTenant(#"{"mcp": \#(SystemProxyTests.proxy(to: upstream.url))}"#)
            try await eventually("the tenant is proxied", timeout: .seconds(20), interval: .milliseconds(200)) {
                let listed = try? await runPythonClient(
                    "Tests/Upstreams/stateless_client.py",
                    arguments: [origin + "/mcp", token, "verified_caller"]
                )
                return (listed?["tools"] as? [String])?.contains("verified_caller") == true
            }
            let proxied = try await runPythonClient(
                "Tests/Upstreams/stateless_client.py",
                arguments: [origin + "/mcp", "login", "verified_caller"]
            )
            #expect(proxied["version"] as? String == "2026-07-28", "\(proxied)")
            #expect(proxied["is_error"] as? Bool == false, "\(proxied)")
            let claims = try JSONSerialization.jsonObject(with: Data(((proxied["text"] as? String) ?? "").utf8)) as? [String: Any]
            #expect(claims?["iss"] as? String == origin && claims?["aud"] as? String == upstream.url, "\(proxied)")
            #expect((claims?["sub"] as? String)?.hasPrefix("usr_") == true)
            #expect(claims?["email"] as? String != nil)

            let rows = try await platform.query(
                "SELECT envelope::jsonb->'payload'->>'tool' FROM toolhost.outbox WHERE event_type = 'tool.invoked' ORDER BY id"
            )
            #expect(rows.first == ["whoami"] && rows.contains(["verified_caller"]), "\(rows)")
        }
    }
}
