import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import MCPToolHost
import PostgresNIO
import ServiceFixtures
import Testing

/// A service principal (a client with a client credentials token, no end user) at `/mcp`:
/// tools see the client as the caller, person-only tools refuse it, and its usage is recorded
/// under its client id.
@Suite("Tool host: service principals", .serialized)
struct ToolHostServicePrincipalTests {
    static let grants = TenantGrants(clientCredentials: true)

    @Test("whoami names the client and no user; tools needing a person are hidden or refused; tool.invoked carries the client only")
    func hosted() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", grants: Self.grants)
            let (token, clientId) = try await fixture.serviceToken()
            try await fixture.application().test(.live) { http in
                let me = try await http.callTool("whoami", token: token)
                #expect(me.status == .ok, "\(me.body)")
                #expect(me.structured["principal"] as? String == "service" && me.structured["clientId"] as? String == clientId)
                #expect(me.structured["userId"] == nil && me.structured["email"] == nil)
                #expect(me.body.contains("service principal"))

                let (body, headers) = ToolHostStatelessTests.request("tools/list")
                let listed = try await http.mcp(body, token: token, headers: headers)
                let names = (listed.result["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                #expect(names?.sorted() == ["list_my_support_requests", "whoami"])

                // get_support needs the email scope, which a service principal never holds: 403.
                let filed = try await http.callTool("get_support", arguments: #"{"subject":"s","message":"m"}"#, token: token)
                #expect(filed.status == .forbidden && filed.challenge.contains("insufficient_scope"))
                let mine = try await http.callTool("list_my_support_requests", token: token)
                #expect(mine.status == .ok && mine.result["isError"] as? Bool == true)
                #expect(mine.body.contains("a service principal has none"))
            }
            let invoked = try await fixture.outbox().filter { $0.type == "tool.invoked" }.compactMap { $0.envelope["payload"] as? [String: Any] }
            #expect(invoked.count == 3)
            #expect(invoked.allSatisfy { $0["user_id"] == nil && $0["client_id"] as? String == clientId })
            #expect(invoked.map { $0["outcome"] as? String } == ["success", "denied", "denied"])
            #expect(try await fixture.outbox().allSatisfy { !"\($0.envelope)".contains(token) })
        }
    }

    @Test("Through the proxy: the assertion's subject is the client id, with no profile claims and no upstream token header")
    func proxied() async throws {
        let upstream = ScriptedMCPUpstream()
        try await upstream.run { base in
            try await ToolHostFixture.run { fixture in
                var settings = ToolHostProxyTests.proxy(base, "ok")
                settings.upstreamTokenHeader = "X-Upstream-Token"
                try await fixture.tenant("acme", mcp: settings, grants: Self.grants)
                let (token, clientId) = try await fixture.serviceToken()
                let user = try await fixture.accessToken()
                try await fixture.application().test(.live) { client in
                    let opened = try await client.mcp(ToolHostProxyTests.initialize, token: token)
                    #expect(opened.status == .ok, "\(opened.body)")
                    let session = try #require(opened.headers[HTTPField.Name("Mcp-Session-Id")!])
                    let called = try await client.callTool("lookup", token: token, session: session)
                    #expect(called.status == .ok, "\(called.body)")
                    // A user's token cannot take over the service principal's session, nor the reverse.
                    let stolen = try await client.callTool("lookup", token: user, session: session)
                    #expect(stolen.status == .notFound)
                }
                let requests = upstream.requests
                #expect(requests.count == 2)
                #expect(requests.allSatisfy { $0.headers["x-upstream-token"] == nil })
                let (keys, _) = try await ToolHostProxyTests.publishedKeys(fixture)
                let claims = try await keys.verify(try ToolHostProxyTests.assertion(in: requests[1]), as: ProxyClaims.self)
                #expect(claims.sub == clientId && claims.client_id == clientId && claims.scope == "mcp:tools")
                #expect(claims.email == nil && claims.name == nil)
            }
        }
    }
}
