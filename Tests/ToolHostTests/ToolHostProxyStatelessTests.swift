import Foundation
import GatehouseEvents
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceFixtures
import Testing

@testable import MCPToolHost

/// The proxy in the stateless era (MCP 2026-07-28): the same rules as the hosted tools are
/// checked before the upstream sees anything, and what a stateless request carries is passed on.
@Suite("Proxy: the stateless era (2026-07-28)", .serialized)
struct ToolHostProxyStatelessTests {
    @Test("A stateless request that breaks the revision's rules is refused and never reaches the upstream")
    func rulesBeforeForwarding() async throws {
        try await ToolHostProxyTests.withProxy("ok") { fixture, upstream, _ in
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                var (body, headers) = ToolHostStatelessTests.call("lookup")
                headers[.mcpName] = "other_tool"
                let mismatch = try await client.mcp(body, token: token, headers: headers)
                #expect(mismatch.status == .badRequest)
                #expect((mismatch.json["error"] as? [String: Any])?["code"] as? Int == -32020)

                (body, headers) = ToolHostStatelessTests.request("tools/list", version: "2099-01-01")
                let unsupported = try await client.mcp(body, token: token, headers: headers)
                #expect(unsupported.status == .badRequest)
                #expect((unsupported.json["error"] as? [String: Any])?["code"] as? Int == -32022)

                for method: HTTPRequest.Method in [.get, .delete] {
                    let refused = try await client.mcp("", token: token, headers: [.mcpProtocolVersion: "2026-07-28"], method: method)
                    #expect(refused.status == .methodNotAllowed, "\(method)")
                }
                let anonymous = try await client.mcp(body, headers: headers)
                #expect(anonymous.status == .unauthorized)
            }
            #expect(upstream.requests.isEmpty, "the upstream saw a request the rules refuse")
            #expect(try await fixture.outbox().filter { $0.type == "tool.invoked" }.isEmpty)
        }
    }

    @Test("A stateless call reaches the upstream with its routing and Mcp-Param headers, without any session id")
    func forwardedAsSent() async throws {
        try await ToolHostProxyTests.withProxy("ok") { fixture, upstream, _ in
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                var (body, headers) = ToolHostStatelessTests.call("lookup")
                headers[HTTPField.Name("Mcp-Param-Region")!] = "eu-west"
                let called = try await client.mcp(body, token: token, session: "a-session-from-another-era", headers: headers)
                #expect(called.status == .ok, "\(called.body)")
                #expect(called.body.contains(#""text":"done""#))
            }
            let received = try #require(upstream.requests.first)
            #expect(upstream.requests.count == 1)
            #expect(received.headers["mcp-protocol-version"] == "2026-07-28")
            #expect(received.headers["mcp-method"] == "tools/call")
            #expect(received.headers["mcp-name"] == "lookup")
            #expect(received.headers["mcp-param-region"] == "eu-west")
            #expect(received.headers["mcp-session-id"] == nil)
            #expect(received.body.contains("io.modelcontextprotocol/protocolVersion"))
            _ = try ToolHostProxyTests.assertion(in: received)
            let outcomes = try await fixture.outbox().filter { $0.type == "tool.invoked" }.compactMap {
                ($0.envelope["payload"] as? [String: Any])?["outcome"] as? String
            }
            #expect(outcomes == ["success"])
        }
    }

    @Test("With hidden tools, a stateless tools/list is the caller's own: cacheScope private; a hidden tool is 403")
    func privateToolList() async throws {
        let rules = [ToolScopeRule(tool: "admin_*", scopes: ["profile"])]
        try await ToolHostProxyTests.withProxy("ok", rules: rules, hide: true) { fixture, upstream, _ in
            let limited = try await fixture.accessToken(scopes: ["mcp:tools", "email"])
            let full = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let (body, headers) = ToolHostStatelessTests.request("tools/list")
                let mine = try await client.mcp(body, token: limited, headers: headers)
                #expect(mine.status == .ok, "\(mine.body)")
                let names = (mine.result["tools"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(names == ["public_tool", "reports"])
                #expect(mine.result["cacheScope"] as? String == "private")
                let all = try await client.mcp(body, token: full, headers: headers)
                #expect((all.result["tools"] as? [[String: Any]])?.count == 4)
                #expect(all.result["cacheScope"] as? String == "private")

                upstream.forget()
                let (callBody, callHeaders) = ToolHostStatelessTests.call("admin_delete")
                let hidden = try await client.mcp(callBody, token: limited, headers: callHeaders)
                #expect(hidden.status == .forbidden)
                #expect(hidden.challenge.contains(#"error="insufficient_scope""#) && hidden.challenge.contains(#"scope="profile""#))
                #expect(upstream.requests.isEmpty)
            }
        }
    }
}
