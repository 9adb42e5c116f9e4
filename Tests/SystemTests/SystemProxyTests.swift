import Foundation
import GatehouseTestSupport
import MCP
import PostgresNIO
import Testing

/// Tenants' own MCP servers behind the platform: the services as processes behind the TLS front
/// door, the official Python MCP SDK's server and an off-the-shelf FastMCP server as upstreams,
/// and the MCP Swift SDK's client logging in through the real OAuth flow.
@Suite("System: proxied MCP servers of the tenant's own", .serialized, .timeLimit(.minutes(3)))
struct SystemProxyTests {
    @Test(
        "The SDK client logs in and calls a Python MCP SDK server (stateful, then stateless) through the proxy: the server verifies the assertion and names the user"
    )
    func pythonSDKUpstream() async throws {
        try await Self.withPlatform { platform, github, upstreamBase in
            let origin = platform.frontDoor.origin
            // The MCP Swift SDK's client reads no event streams on Linux, so these answer in JSON.
            let stateful = try await PythonUpstream(script: "examples/python-mcp-server/server.py", issuer: origin, arguments: ["--json-response"])
            let stateless = try await PythonUpstream(
                script: "examples/python-mcp-server/server.py",
                issuer: origin,
                arguments: ["--stateless", "--json-response"]
            )
            defer {
                Task {
                    await stateful.stop()
                    await stateless.stop()
                }
            }
            try await platform.createTenant(upstream: github.app(at: upstreamBase), mcp: Self.proxy(to: stateful.url))

            let octo = try await ToolHostEndToEndTests.signedInClient(platform: platform, github: github, serverName: "sdk-upstream")
            let claims = try await Self.verifiedClaims(octo)
            #expect(claims["email"] as? String == "octo@example.org" && claims["email_verified"] as? Bool == true)
            #expect(claims["iss"] as? String == origin && claims["aud"] as? String == stateful.url)
            let userId = try #require(claims["sub"] as? String)
            #expect(userId.hasPrefix("usr_"))
            #expect((claims["scope"] as? String)?.split(separator: " ").contains("mcp:tools") == true)
            let counted = try await octo.callTool(name: "count_with_progress", arguments: ["steps": 5])
            #expect(ToolHostEndToEndTests.text(counted.content) == "counted to 5")
            #expect(
                try await octo.listTools().tools.map(\.name).sorted() == ["count_with_progress", "upstream_token_fingerprint", "verified_caller"]
            )
            // Not handed on unless the tenant asks; then it is the token GitHub issued at this user's login.
            #expect(ToolHostEndToEndTests.text(try await octo.callTool(name: "upstream_token_fingerprint").content) == "none")
            try await platform.updateTenant(#"{"mcp": \#(Self.proxy(to: stateful.url, upstreamTokenHeader: "X-Upstream-Token"))}"#)
            try await eventually("the upstream token is handed on", timeout: .seconds(20), interval: .milliseconds(200)) {
                let fingerprint = ToolHostEndToEndTests.text(try await octo.callTool(name: "upstream_token_fingerprint").content)
                return fingerprint != "none" && github.issuedToken(withFingerprint: fingerprint)
            }

            github.setUser(.init(id: 5151, login: "hubot", name: "Hu Bot", publicEmail: nil, primaryEmail: "hubot@example.org"))
            let hubot = try await ToolHostEndToEndTests.signedInClient(platform: platform, github: github, serverName: "sdk-upstream")
            let theirs = try await Self.verifiedClaims(hubot)
            #expect(theirs["email"] as? String == "hubot@example.org" && theirs["sub"] as? String != userId)

            try await platform.updateTenant(#"{"mcp": \#(Self.proxy(to: stateless.url))}"#)
            try await eventually("the tenant is proxied to the stateless server", timeout: .seconds(20), interval: .milliseconds(200)) {
                let client = try await ToolHostEndToEndTests.signedInClient(platform: platform, github: github, serverName: "sdk-upstream")
                let audience = (try await Self.verifiedClaims(client))["aud"] as? String
                await client.disconnect()
                return audience == stateless.url
            }
            let rows = try await platform.query(
                "SELECT envelope::jsonb->'payload'->>'tool', envelope::jsonb->'payload'->>'outcome' FROM toolhost.outbox WHERE event_type = 'tool.invoked' ORDER BY id"
            )
            #expect(Array(rows.prefix(2)) == [["verified_caller", "success"], ["count_with_progress", "success"]])
            #expect(rows.count >= 5 && rows.allSatisfy { $0[1] == "success" }, "\(rows)")
            await octo.disconnect()
            await hubot.disconnect()
        }
    }

    @Test("The Python MCP SDK's client receives a tool's progress notifications as a stream through the proxy, then the result")
    func progressStreams() async throws {
        try await Self.withPlatform { platform, github, upstreamBase in
            let origin = platform.frontDoor.origin
            let streaming = try await PythonUpstream(script: "examples/python-mcp-server/server.py", issuer: origin)
            defer { Task { await streaming.stop() } }
            try await platform.createTenant(upstream: github.app(at: upstreamBase), mcp: Self.proxy(to: streaming.url))
            let token = try await PlatformClient.with { http in
                let endpoints = OAuthEndpoints(origin: origin)
                return try await http.signIn(endpoints, clientId: try await http.register(endpoints), scopes: ["mcp:tools", "email"]).access
            }
            let answer = try await runPythonClient("Tests/Upstreams/progress_client.py", arguments: [origin + "/mcp", token, "20"])
            #expect(answer["progress"] as? [Double] == (1...20).map(Double.init), "\(answer)")
            #expect(answer["result"] as? String == "counted to 20" && answer["is_error"] as? Bool == false)
            let rows = try await platform.query(
                "SELECT envelope::jsonb->'payload'->>'outcome' FROM toolhost.outbox WHERE event_type = 'tool.invoked'"
            )
            #expect(rows == [["success"]])
        }
    }

    @Test("An off-the-shelf FastMCP server whose only auth is its JWT verifier on our JWKS accepts proxied calls and refuses direct ones")
    func fastMCPUpstream() async throws {
        try await Self.withPlatform { platform, github, upstreamBase in
            let fastmcp = try await PythonUpstream(script: "Tests/Upstreams/fastmcp_server.py", issuer: platform.frontDoor.origin)
            defer { Task { await fastmcp.stop() } }
            try await platform.createTenant(upstream: github.app(at: upstreamBase), mcp: Self.proxy(to: fastmcp.url))
            let octo = try await ToolHostEndToEndTests.signedInClient(platform: platform, github: github, serverName: "fastmcp-upstream")
            let answer = ToolHostEndToEndTests.text(try await octo.callTool(name: "whoami").content)
            let claims = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
            #expect(claims["email"] as? String == "octo@example.org" && (claims["sub"] as? String)?.hasPrefix("usr_") == true)
            await octo.disconnect()

            // Straight at the server: no token, and a client's Gatehouse access token, are both refused.
            try await PlatformClient.with { http in
                let endpoints = OAuthEndpoints(origin: platform.frontDoor.origin)
                let token = try await http.signIn(endpoints, clientId: try await http.register(endpoints), scopes: ["mcp:tools"]).access
                let initialize =
                    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
                let headers = [("Accept", "application/json, text/event-stream")]
                let anonymous = try await http.send("POST", fastmcp.url, body: initialize, contentType: "application/json", headers: headers)
                #expect(anonymous.status == 401)
                let withToken = try await http.send(
                    "POST",
                    fastmcp.url,
                    body: initialize,
                    contentType: "application/json",
                    headers: headers + [("Authorization", "Bearer \(token)")]
                )
                #expect(withToken.status == 401)
                let proxied = try await http.send(
                    "POST",
                    platform.frontDoor.origin + "/mcp",
                    body: initialize,
                    contentType: "application/json",
                    headers: headers + [("Authorization", "Bearer \(token)")]
                )
                #expect(proxied.status == 200, "\(proxied.body)")
            }
        }
    }

    static func proxy(to url: String, upstreamTokenHeader: String? = nil) -> String {
        let header = upstreamTokenHeader.map { #", "upstream_token_header": "\#($0)""# } ?? ""
        return #"{"mode": "proxy", "upstream_url": "\#(url)", "allow_http": true, "timeout_seconds": 20\#(header)}"#
    }

    static func verifiedClaims(_ client: Client) async throws -> [String: Any] {
        let result = try await client.callTool(name: "verified_caller")
        #expect(result.isError != true, "\(result.content)")
        let text = ToolHostEndToEndTests.text(result.content)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// The platform (one instance of each service) with a fake GitHub for logins.
    static func withPlatform(_ body: @Sendable (Platform, FakeGitHub, String) async throws -> Void) async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "proxy")
        let github = FakeGitHub()
        try await github.run { upstreamBase in
            let platform = try await Platform.start(database: database, kafka: broker.bootstrapServers)
            do {
                try await body(platform, github, upstreamBase)
            } catch {
                print(platform.report())
                await platform.stop()
                throw error
            }
            await platform.stop()
        }
        await broker.process.killHard()
    }
}
