import Foundation
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MCPToolHost
import PostgresNIO
import ServiceFixtures
import Testing

/// The MCP tool host against a real token service and PostgreSQL: who may call, what the
/// tools see, and what they record.
@Suite("Tool host: authentication and tools")
struct ToolHostAuthenticationTests {
    static let resourceMetadata = #"resource_metadata="https://acme.example/.well-known/oauth-protected-resource/mcp""#

    @Test("get_support files under the caller's verified email; each user lists only their own requests; tool.invoked is recorded")
    func supportRequestsBelongToTheirUser() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let ada = try await fixture.accessToken(subject: "ada", email: "ada@example.org")
            let bob = try await fixture.accessToken(subject: "bob", email: "bob@example.org")
            try await fixture.application().test(.live) { http in
                let filed = try await http.callTool(
                    "get_support",
                    arguments: #"{"subject":"Printer on fire","message":"It is, really."}"#,
                    token: ada
                )
                #expect(filed.status == .ok, "\(filed.body)")
                #expect(filed.result["isError"] as? Bool == false)
                let id = try #require(filed.structured["id"] as? String)
                #expect(filed.structured["email"] as? String == "ada@example.org")
                #expect(id.hasPrefix("sr_"))

                let adas = try await http.callTool("list_my_support_requests", token: ada)
                let listed = try #require(adas.structured["requests"] as? [[String: Any]])
                #expect(listed.map { $0["id"] as? String } == [id])
                #expect(listed.first?["subject"] as? String == "Printer on fire")
                let bobs = try await http.callTool("list_my_support_requests", token: bob)
                #expect((bobs.structured["requests"] as? [[String: Any]])?.isEmpty == true)

                let rows = try await fixture.tokens.client.query("SELECT email, user_id FROM toolhost.support_requests")
                var stored: [(String, String)] = []
                for try await row in rows.decode((String, String).self) { stored.append(row) }
                #expect(stored.count == 1 && stored.first?.0 == "ada@example.org")

                let events = try await fixture.outbox()
                #expect(events.map(\.type) == ["tool.invoked", "tool.invoked", "tool.invoked"])
                let first = try #require(events.first?.envelope["payload"] as? [String: Any])
                #expect(first["tool"] as? String == "get_support" && first["outcome"] as? String == "success")
                #expect(first["user_id"] as? String == stored.first?.1)
                #expect((first["duration_ms"] as? Double).map { $0 >= 0 } == true)
                #expect(!events.contains { "\($0.envelope)".contains(ada) || "\($0.envelope)".contains(bob) })
            }
        }
    }

    @Test("whoami shows the principal from the token, without secrets; email only with the email scope")
    func whoami() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let full = try await fixture.accessToken(subject: "ada", email: "ada@example.org")
            let narrow = try await fixture.accessToken(subject: "ada", email: "ada@example.org", scopes: ["mcp:tools"])
            try await fixture.application().test(.live) { http in
                let me = try await http.callTool("whoami", token: full)
                #expect(me.structured["authenticated"] as? Bool == true)
                #expect(me.structured["tenant"] as? String == "acme")
                #expect(me.structured["email"] as? String == "ada@example.org")
                #expect(me.structured["emailVerified"] as? Bool == true)
                #expect(me.structured["name"] as? String == "Ada")
                #expect(me.structured["scopes"] as? [String] == ["email", "mcp:tools", "profile"])
                #expect(!me.body.contains(full) && !me.body.contains("grant"))
                let withoutEmail = try await http.callTool("whoami", token: narrow)
                #expect(withoutEmail.structured["userId"] as? String == me.structured["userId"] as? String)
                #expect(withoutEmail.structured["email"] == nil && withoutEmail.structured["name"] == nil)
            }
        }
    }

    @Test("Missing, garbage, expired, foreign-tenant, upstream and query-string tokens: 401 with the resource's challenge")
    func unauthenticated() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.tenant("globex")
            // Tokens of this tenant live one second.
            try await fixture.tenant("brief", accessSeconds: 1)
            let expired = try await fixture.accessToken(tenant: "brief")
            let foreign = try await fixture.accessToken(tenant: "globex")
            let valid = try await fixture.accessToken()
            try await Task.sleep(for: .milliseconds(2100))
            try await fixture.application().test(.live) { http in
                let missing = try await http.callTool("whoami", token: nil)
                #expect(missing.status == .unauthorized)
                #expect(missing.challenge.hasPrefix("Bearer "))
                #expect(missing.challenge.contains(Self.resourceMetadata))
                #expect(missing.challenge.contains(#"scope="mcp:tools email""#))
                #expect(!missing.challenge.contains("error="))
                #expect(missing.json["error"] as? String == "invalid_request")

                let presented: [(String, String, String)] = [
                    ("garbage", "not-a-token", "acme"), ("expired", expired, "brief"), ("another tenant's", foreign, "acme"),
                    ("an upstream provider's", "gho_" + String(repeating: "x", count: 36), "acme"),
                    ("unknown", "mcp_at_" + String(repeating: "A", count: 43), "acme"),
                ]
                for (label, token, tenant) in presented {
                    let response = try await http.callTool("whoami", host: "\(tenant).example", token: token)
                    #expect(response.status == .unauthorized, "\(label)")
                    #expect(response.challenge.contains(#"error="invalid_token""#), "\(label)")
                    #expect(
                        response.challenge.contains("resource_metadata=\"https://\(tenant).example/.well-known/oauth-protected-resource/mcp\""),
                        "\(label)"
                    )
                    #expect(response.json["error"] as? String == "invalid_token", "\(label)")
                    #expect(!response.body.contains(token), "\(label)")
                }
                // A valid token in the query string is ignored (RFC 6750 §2.3 is not offered); the
                // same token in the header is accepted.
                let query = try await http.mcp(
                    #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#,
                    path: "/mcp?access_token=\(valid)"
                )
                #expect(query.status == .unauthorized && !query.challenge.contains("error="))
                #expect(try await http.callTool("whoami", token: valid).status == .ok)
            }
        }
    }

    @Test("A tool whose scopes the token lacks: 403 insufficient_scope naming every scope it needs; the call is recorded as denied")
    func insufficientScope() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let narrow = try await fixture.accessToken(scopes: ["mcp:tools"])
            try await fixture.application().test(.live) { http in
                let response = try await http.callTool("get_support", arguments: #"{"subject":"a","message":"b"}"#, token: narrow)
                #expect(response.status == .forbidden)
                #expect(response.json["error"] as? String == "insufficient_scope")
                #expect(response.challenge.contains(#"error="insufficient_scope""#))
                #expect(response.challenge.contains(#"scope="mcp:tools email""#))
                #expect(response.challenge.contains(Self.resourceMetadata))
                #expect(try await fixture.tokens.client.rowCount(of: "support_requests", in: fixture.schema) == 0)
                let payload = try #require(try await fixture.outbox().last?.envelope["payload"] as? [String: Any])
                #expect(payload["outcome"] as? String == "denied" && payload["tool"] as? String == "get_support")
                // The same token may call what it has the scopes for.
                #expect(try await http.callTool("whoami", token: narrow).status == .ok)
            }
        }
    }

    @Test("Sessions: issued at initialize, accepted for their user on any request, 404 for another user or a forged id")
    func sessions() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let ada = try await fixture.accessToken(subject: "ada")
            let bob = try await fixture.accessToken(subject: "bob")
            try await fixture.application().test(.live) { http in
                let initialize = try await http.mcp(
                    #"""
                    {"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
                    """#,
                    token: ada
                )
                #expect(initialize.status == .ok, "\(initialize.body)")
                #expect(initialize.result["protocolVersion"] as? String == "2025-11-25")
                #expect((initialize.result["capabilities"] as? [String: Any])?["tools"] != nil)
                let session = try #require(initialize.headers[HTTPField.Name("Mcp-Session-Id")!])
                #expect(session.utf8.allSatisfy { (0x21...0x7E).contains($0) } && session.count > 40)

                let own = try await http.callTool("whoami", token: ada, session: session)
                #expect(own.status == .ok && own.headers[HTTPField.Name("Mcp-Session-Id")!] == session)
                let notification = try await http.mcp(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, token: ada, session: session)
                #expect(notification.status == .accepted)

                let stolen = try await http.callTool("whoami", token: bob, session: session)
                #expect(stolen.status == .notFound)
                #expect((stolen.json["error"] as? [String: Any])?["message"] as? String == "Session not found")
                let forged = try await http.callTool("whoami", token: ada, session: String(session.dropLast()) + (session.hasSuffix("A") ? "B" : "A"))
                #expect(forged.status == .notFound)
                // Nor does a session stand in for a token.
                #expect(try await http.callTool("whoami", token: nil, session: session).status == .unauthorized)
            }
        }
    }

    @Test("Origins, methods, protocol versions and malformed messages get their own status, never 500")
    func transportRules() async throws {
        try await ToolHostFixture.run(allowedOrigins: ["http://localhost:6274"]) { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                let evil = try await http.callTool("whoami", token: token, headers: [.origin: "https://evil.example"])
                #expect(evil.status == .forbidden && evil.json["error"] as? String == "forbidden_origin")
                let own = try await http.callTool("whoami", token: token, headers: [.origin: "https://acme.example"])
                #expect(own.status == .ok && own.headers[.accessControlAllowOrigin] == "https://acme.example")
                let inspector = try await http.callTool("whoami", token: token, headers: [.origin: "http://localhost:6274"])
                #expect(inspector.status == .ok)

                for method: HTTPRequest.Method in [.get, .delete] {
                    let response = try await http.mcp("", token: token, method: method)
                    #expect(response.status == .methodNotAllowed, "\(method)")
                    #expect(response.headers[.allow] == "POST, OPTIONS")
                }
                let old = try await http.callTool("whoami", token: token, headers: [HTTPField.Name("MCP-Protocol-Version")!: "2023-01-01"])
                #expect(old.status == .badRequest)
                for version in ["2025-06-18", "2025-11-25"] {
                    let supported = try await http.callTool("whoami", token: token, headers: [HTTPField.Name("MCP-Protocol-Version")!: version])
                    #expect(supported.status == .ok, "\(version)")
                }
                let cases: [(String, HTTPResponse.Status, Int)] = [
                    ("{not json", .badRequest, -32700),
                    (#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, .badRequest, -32600),
                    (#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, .badRequest, -32600),
                    (#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, .badRequest, -32600),
                ]
                for (body, status, code) in cases {
                    let response = try await http.mcp(body, token: token)
                    #expect(response.status == status, "\(body)")
                    #expect((response.json["error"] as? [String: Any])?["code"] as? Int == code, "\(body)")
                }
                let unknownTool = try await http.callTool("rm_rf", token: token)
                #expect(unknownTool.status == .ok && (unknownTool.json["error"] as? [String: Any])?["code"] as? Int == -32602)
                let unknownMethod = try await http.mcp(#"{"jsonrpc":"2.0","id":"x","method":"resources/list"}"#, token: token)
                #expect(unknownMethod.status == .ok && (unknownMethod.json["error"] as? [String: Any])?["code"] as? Int == -32601)
                #expect(unknownMethod.json["id"] as? String == "x")
                let badArguments = try await http.callTool("get_support", arguments: #"{"subject":42,"extra":true}"#, token: token)
                #expect(badArguments.result["isError"] as? Bool == true)
                let text = ((badArguments.result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
                #expect(
                    text.contains("'subject' must be a string") && text.contains("'message' is required") && text.contains("unknown argument 'extra'")
                )
                let wrongType = try await http.mcp(
                    #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#,
                    token: token,
                    headers: [.contentType: "text/plain"]
                )
                #expect(wrongType.status == .unsupportedMediaType)
                let unknownHost = try await http.callTool("whoami", host: "nobody.example", token: token)
                #expect(unknownHost.status == .notFound)
                let list = try await http.mcp(#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, token: token)
                let tools = try #require(list.result["tools"] as? [[String: Any]])
                #expect(Set(tools.compactMap { $0["name"] as? String }) == ["get_support", "list_my_support_requests", "whoami"])
                let support = try #require(tools.first { $0["name"] as? String == "get_support" })
                #expect((support["inputSchema"] as? [String: Any])?["required"] as? [String] == ["subject", "message"])
            }
        }
    }

    @Test("Two users sending JSON-RPC id 1 at the same moment each get their own answer")
    func sameIdsConcurrently() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let ada = try await fixture.accessToken(subject: "ada", email: "ada@example.org")
            let bob = try await fixture.accessToken(subject: "bob", email: "bob@example.org")
            let probe = InFlightProbe()
            try await fixture.application(probe: probe).test(.ahc(.http)) { http in
                let adaId = try #require(try await http.callTool("whoami", token: ada).structured["userId"] as? String)
                let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                    // Half the workers are Ada, half Bob; each sends its rounds one after another.
                    for index in 0..<InFlightProbe.burst {
                        let (token, expected) = index.isMultiple(of: 2) ? (ada, "ada@example.org") : (bob, "bob@example.org")
                        group.addTask {
                            var wrong = 0
                            for _ in 0..<8 {
                                // Both paths: the hot tools/call and the SDK server's tools/list.
                                let call = try await http.callTool("whoami", token: token)
                                let list = try await http.mcp(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, token: token)
                                let ok =
                                    call.json["id"] as? Int == 1 && call.structured["email"] as? String == expected
                                    && list.json["id"] as? Int == 1 && (list.result["tools"] as? [Any])?.count == 3
                                wrong += ok ? 0 : 1
                            }
                            return wrong
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(mismatches == 0)
                #expect(probe.peak > 1, "the requests overlapped in the server")
                #expect(!adaId.isEmpty)
            }
        }
    }

    @Test("A tenant without login serves its tools anonymously; get_support explains that the user must log in")
    func tenantWithoutLogin() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("open", authMode: "none")
            try await fixture.application().test(.live) { http in
                let me = try await http.callTool("whoami", host: "open.example", token: nil)
                #expect(me.status == .ok && me.structured["authenticated"] as? Bool == false)
                let support = try await http.callTool(
                    "get_support",
                    arguments: #"{"subject":"Help","message":"Please"}"#,
                    host: "open.example",
                    token: nil
                )
                #expect(support.status == .ok && support.result["isError"] as? Bool == true)
                let text = ((support.result["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
                #expect(text.contains("needs a signed-in user"))
                #expect(try await fixture.tokens.client.rowCount(of: "support_requests", in: fixture.schema) == 0)
                let outcomes = try await fixture.outbox().compactMap { ($0.envelope["payload"] as? [String: Any])?["outcome"] as? String }
                #expect(outcomes == ["success", "denied"])
            }
        }
    }

    @Test("A disabled tenant is not served (404), and a later tenant.updated cannot be undone by an older one")
    func tenantProjection() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", disabled: true, version: 2)
            try await fixture.tenant("acme", version: 1)
            try await fixture.application().test(.live) { http in
                let response = try await http.callTool("whoami", token: nil)
                #expect(response.status == .notFound)
            }
        }
    }
}
