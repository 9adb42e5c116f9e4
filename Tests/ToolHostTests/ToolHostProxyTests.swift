import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import NIOCore
import NIOHTTP1
import ServiceFixtures
import Testing

@testable import MCPToolHost

/// The proxy in front of a tenant's own MCP server, in process over a real token service and
/// PostgreSQL, with a scripted upstream on loopback that records what reaches it.
@Suite("Proxy: a tenant's own MCP server behind the tool host", .serialized)
struct ToolHostProxyTests {
    static let initialize =
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#

    static func proxy(
        _ base: String,
        _ behaviour: String,
        timeout: Int = 5,
        rules: [ToolScopeRule] = [],
        hide: Bool = false
    )
        -> MCPEndpointSettings
    {
        MCPEndpointSettings(
            mode: .proxy,
            upstreamUrl: "\(base)/mcp/\(behaviour)",
            allowHttp: true,
            timeoutSeconds: timeout,
            toolScopes: rules,
            hideUnauthorizedTools: hide
        )
    }

    /// The fixture, a scripted upstream, and tenant `acme` proxied to `behaviour`.
    static func withProxy(
        _ behaviour: String,
        timeout: Int = 5,
        rules: [ToolScopeRule] = [],
        hide: Bool = false,
        assertionKeys: IdentityAssertionKeys = TokenFixture.assertionKeys,
        maximumResponseBytes: Int = 16 << 20,
        _ body: @Sendable (ToolHostFixture, ScriptedMCPUpstream, String) async throws -> Void
    ) async throws {
        let upstream = ScriptedMCPUpstream()
        try await upstream.run { base in
            try await ToolHostFixture.run(assertionKeys: assertionKeys, proxyMaximumResponseBytes: maximumResponseBytes) { fixture in
                try await fixture.tenant("acme", mcp: proxy(base, behaviour, timeout: timeout, rules: rules, hide: hide))
                try await body(fixture, upstream, base)
            }
        }
    }

    /// The tenant's JWKS as the token service publishes it, in a jwt-kit key collection.
    static func publishedKeys(_ fixture: ToolHostFixture, host: String = "acme.example") async throws -> (JWTKeyCollection, [String]) {
        let reply = try await fixture.tokenHTTP.execute(
            uri: "/oauth/jwks",
            method: .get,
            headers: [HTTPField.Name("X-Forwarded-Host")!: host]
        ) { String(buffer: $0.body) }
        let keys = try await JWTKeyCollection().add(jwksJSON: reply)
        let document = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]
        let kids = (document?["keys"] as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String }
        return (keys, kids)
    }

    static func assertion(in request: ScriptedMCPUpstream.Received) throws -> String {
        let header = try #require(request.headers["authorization"])
        #expect(header.hasPrefix("Bearer "))
        return String(header.dropFirst("Bearer ".count))
    }

    @Test("A proxied call carries a signed assertion naming the caller, never the client's token, and its usage is recorded")
    func assertionInsteadOfToken() async throws {
        try await Self.withProxy("ok") { fixture, upstream, base in
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let opened = try await client.mcp(Self.initialize, token: token, headers: [.cookie: "session=browser"])
                #expect(opened.status == .ok, "\(opened.body)")
                let session = try #require(opened.headers[HTTPField.Name("Mcp-Session-Id")!])
                #expect(session != ScriptedMCPUpstream.upstreamSession && !session.contains(ScriptedMCPUpstream.upstreamSession))
                #expect(opened.headers[.setCookie] == nil)

                let called = try await client.callTool("lookup", token: token, session: session)
                #expect(called.status == .ok, "\(called.body)")
                #expect(called.body.contains(#""text":"done""#))
            }
            let requests = upstream.requests
            #expect(requests.count == 2)
            for request in requests {
                #expect(!request.headers.values.contains { $0.contains(token) }, "the client's token reached the upstream")
                #expect(request.headers["cookie"] == nil)
            }
            #expect(requests[1].headers["mcp-session-id"] == ScriptedMCPUpstream.upstreamSession)

            let (keys, kids) = try await Self.publishedKeys(fixture)
            let jwt = try Self.assertion(in: requests[1])
            let claims = try await keys.verify(jwt, as: ProxyClaims.self)
            #expect(claims.iss == "https://acme.example")
            #expect(claims.aud == "\(base)/mcp/ok")
            #expect(claims.sub == UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "42"))
            #expect(claims.email == "ada@example.org" && claims.email_verified == true && claims.name == "Ada")
            #expect(claims.scope == "email mcp:tools profile")
            #expect(claims.client_id.isEmpty == false)
            #expect(claims.exp - claims.iat <= 300 && claims.exp > claims.iat)
            #expect(claims.jti.count >= 16)
            let header = try JSONSerialization.jsonObject(with: Data(Base64URL.decode(String(jwt.split(separator: ".")[0]))!)) as? [String: Any]
            #expect(header?["alg"] as? String == "ES256")
            #expect(kids.first == header?["kid"] as? String)
            // Each request gets its own assertion.
            #expect(try Self.assertion(in: requests[0]) != jwt)

            let invoked = try await fixture.outbox().filter { $0.type == "tool.invoked" }
            let payload = try #require(invoked.last?.envelope["payload"] as? [String: Any])
            #expect(payload["tool"] as? String == "lookup" && payload["outcome"] as? String == "success")
        }
    }

    @Test("The assertion's profile claims follow the token's scopes")
    func claimsFollowScopes() async throws {
        try await Self.withProxy("ok") { fixture, upstream, _ in
            let token = try await fixture.accessToken(scopes: ["mcp:tools"])
            try await fixture.application().test(.live) { client in
                let reply = try await client.callTool("lookup", token: token)
                #expect(reply.status == .ok, "\(reply.body)")
            }
            let (keys, _) = try await Self.publishedKeys(fixture)
            let claims = try await keys.verify(try Self.assertion(in: try #require(upstream.requests.last)), as: ProxyClaims.self)
            #expect(claims.email == nil && claims.email_verified == nil && claims.name == nil)
            #expect(claims.scope == "mcp:tools")
        }
    }

    @Test("Requests without a valid token for this tenant are refused and never reach the upstream")
    func unauthenticatedNeverForwarded() async throws {
        try await Self.withProxy("ok") { fixture, upstream, _ in
            try await fixture.tenant("other")
            let theirs = try await fixture.accessToken(tenant: "other")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let none = try await client.callTool("lookup", token: nil)
                #expect(none.status == .unauthorized)
                #expect(none.challenge.contains("resource_metadata=\"https://acme.example/.well-known/oauth-protected-resource/mcp\""))
                #expect(none.challenge.contains(#"scope="mcp:tools email profile""#))
                #expect(try await client.callTool("lookup", token: "garbage").status == .unauthorized)
                #expect(try await client.callTool("lookup", token: theirs).status == .unauthorized)
                let inQuery = try await client.mcp(PlatformClient.toolCallBody("lookup"), path: "/mcp?access_token=\(token)")
                #expect(inQuery.status == .unauthorized)
            }
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("A revoked token is refused within the revocation bound, and its calls stop reaching the upstream")
    func revokedToken() async throws {
        try await Self.withProxy("ok") { fixture, upstream, _ in
            let client = try await fixture.tokens.client()
            let token = try await fixture.accessToken(client: client)
            try await fixture.application().test(.live) { http in
                let first = try await http.callTool("lookup", token: token)
                #expect(first.status == .ok)
                #expect(try await fixture.tokenHTTP.form("/oauth/revoke", [("token", token), ("client_id", client.id)]).status == .ok)
                // A request after the 1.5 s bound is judged afresh, whatever the machine's load.
                try await Task.sleep(until: ContinuousClock.now + .milliseconds(1600))
                let refused = try await http.callTool("lookup", token: token)
                #expect(refused.status == .unauthorized && refused.challenge.contains(#"error="invalid_token""#))
            }
            #expect(upstream.requests.count == 1)
        }
    }

    @Test("A proxied session id presented with another user's token is 404, and the upstream sees nothing")
    func sessionsBoundToTheUser() async throws {
        try await Self.withProxy("ok") { fixture, upstream, _ in
            let ada = try await fixture.accessToken()
            let bob = try await fixture.accessToken(subject: "77", email: "bob@example.org")
            try await fixture.application().test(.live) { client in
                let session = try #require(try await client.mcp(Self.initialize, token: ada).headers[HTTPField.Name("Mcp-Session-Id")!])
                upstream.forget()
                let stolen = try await client.callTool("lookup", token: bob, session: session)
                #expect(stolen.status == .notFound, "\(stolen.body)")
                let forged = try await client.callTool("lookup", token: ada, session: session + "x")
                #expect(forged.status == .notFound)
                #expect(upstream.requests.isEmpty)
                #expect(try await client.callTool("lookup", token: ada, session: session).status == .ok)
            }
        }
    }

    @Test("A tool call without the scopes its rule names is 403 before the upstream sees it; tools/list hides what cannot be called")
    func toolScopes() async throws {
        let rules = [ToolScopeRule(tool: "admin_*", scopes: ["profile"]), ToolScopeRule(tool: "reports", scopes: ["email", "profile"])]
        try await Self.withProxy("ok", rules: rules, hide: true) { fixture, upstream, _ in
            let limited = try await fixture.accessToken(scopes: ["mcp:tools", "email"])
            let full = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let denied = try await client.callTool("admin_delete", token: limited)
                #expect(denied.status == .forbidden)
                #expect(denied.challenge.contains(#"error="insufficient_scope""#) && denied.challenge.contains(#"scope="profile""#))
                let reports = try await client.callTool("reports", token: limited)
                #expect(reports.status == .forbidden && reports.challenge.contains(#"scope="email profile""#))
                #expect(upstream.requests.isEmpty, "the upstream saw a call the rules refuse")

                let listed = try await client.mcp(#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#, token: limited)
                let names = (listed.result["tools"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(names == ["public_tool"])
                let everything = try await client.mcp(#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#, token: full)
                #expect((everything.result["tools"] as? [[String: Any]])?.count == 4)
                #expect(try await client.callTool("admin_delete", token: full).status == .ok)
            }
            let outcomes = try await fixture.outbox().filter { $0.type == "tool.invoked" }.compactMap {
                ($0.envelope["payload"] as? [String: Any])?["outcome"] as? String
            }
            #expect(outcomes == ["denied", "denied", "success"])
        }
    }

    @Test("Tool errors and JSON-RPC errors are recorded as such, from JSON and from event streams")
    func outcomes() async throws {
        for behaviour in ["ok", "sse"] {
            try await Self.withProxy(behaviour) { fixture, _, _ in
                let token = try await fixture.accessToken()
                try await fixture.application().test(.live) { client in
                    let failing = try await client.callTool("failing", token: token)
                    #expect(failing.status == .ok)
                    if behaviour == "sse" {
                        #expect(failing.headers[.contentType] == "text/event-stream")
                        #expect(failing.body.components(separatedBy: "notifications/progress").count == 6)
                        #expect(failing.body.contains("id: 9"))
                    }
                    #expect(try await client.callTool("fine", token: token).status == .ok)
                    if behaviour == "ok" { #expect(try await client.callTool("missing", token: token).status == .ok) }
                }
                let outcomes = try await fixture.outbox().filter { $0.type == "tool.invoked" }.compactMap {
                    ($0.envelope["payload"] as? [String: Any])?["outcome"] as? String
                }
                #expect(outcomes == (behaviour == "ok" ? ["error", "success", "jsonrpc_error"] : ["error", "success"]), "\(behaviour)")
            }
        }
    }

    @Test("An upstream that is down, slow, failing or refusing our assertion is 502/503/504 with a JSON-RPC error, never 401")
    func upstreamFailures() async throws {
        let cases: [(behaviour: String, status: HTTPResponse.Status, retry: Bool)] = [
            ("slow", .gatewayTimeout, true), ("fail", .badGateway, false), ("refuse", .badGateway, false),
            ("unavailable", .serviceUnavailable, true),
        ]
        for (behaviour, status, retry) in cases {
            try await Self.withProxy(behaviour, timeout: 1) { fixture, _, _ in
                let token = try await fixture.accessToken()
                try await fixture.application().test(.live) { client in
                    let reply = try await client.callTool("lookup", token: token)
                    #expect(reply.status == status, "\(behaviour): \(reply.body)")
                    #expect(reply.headers[.wwwAuthenticate] == nil, "\(behaviour)")
                    #expect((reply.json["error"] as? [String: Any])?["code"] as? Int == -32603, "\(behaviour)")
                    #expect((reply.headers[.retryAfter] != nil) == retry, "\(behaviour)")
                }
                let outcome = try await fixture.outbox().filter { $0.type == "tool.invoked" }.last?.envelope["payload"] as? [String: Any]
                #expect(outcome?["outcome"] as? String == "upstream_failure", "\(behaviour)")
            }
        }
        // Nobody listening at all.
        // Port 1 (tcpmux) listens nowhere here, unlike a port that was free a moment ago.
        let closed = 1
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme", mcp: Self.proxy("http://127.0.0.1:\(closed)", "ok"))
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let reply = try await client.callTool("lookup", token: token)
                #expect(reply.status == .serviceUnavailable && reply.headers[.retryAfter] == "5", "\(reply.body)")
            }
        }
    }

    @Test("An answer past the size limit is cut off with a clear error")
    func oversizedAnswer() async throws {
        try await Self.withProxy("huge", maximumResponseBytes: 1 << 20) { fixture, _, _ in
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let reply = try await client.callTool("lookup", token: token)
                #expect(reply.status == .badGateway)
                #expect(reply.body.count < 1024)
                #expect(
                    ((reply.json["error"] as? [String: Any])?["message"] as? String)?.contains("exceeds the proxy's limit of 1048576 bytes") == true
                )
            }
        }
    }

    @Test("A client that disconnects mid-stream cancels the upstream request")
    func disconnectCancelsUpstream() async throws {
        try await Self.withProxy("endless") { fixture, upstream, _ in
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(client.port!)/mcp")
                request.method = .POST
                request.headers.add(name: "X-Forwarded-Host", value: "acme.example")
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "Accept", value: "application/json, text/event-stream")
                request.body = .bytes(ByteBuffer(string: PlatformClient.toolCallBody("watch")))
                let response = try await http.execute(request, timeout: .seconds(10))
                #expect(response.status.code == 200)
                var received = 0
                for try await chunk in response.body {
                    received += chunk.readableBytes
                    if received > 500 { break }
                }
                try await http.shutdown()
                try await eventually("the upstream stream is cancelled", timeout: .seconds(10), interval: .milliseconds(50)) {
                    upstream.cancelledStreams == 1
                }
            }
        }
    }

    @Test("Keys rotate: the JWKS publishes old and new, old assertions still verify, new ones use the new kid")
    func keyRotation() async throws {
        let old = Base64URL.encode(Array(repeating: UInt8(7), count: 32))
        let new = Base64URL.encode(Array(repeating: UInt8(8), count: 32))
        let before = try IdentityAssertionKeys(specification: "a1:\(old)")
        let after = try IdentityAssertionKeys(specification: "b2:\(new),a1:\(old)")
        let principal = Principal(tenant: "acme", userId: "usr_x", clientId: "c", email: nil, emailVerified: false, name: nil, scopes: ["mcp:tools"])
        let oldAssertion = try AssertionSigner(keys: before).sign(
            IdentityAssertion(principal: principal, issuer: "https://acme.example", audience: "https://up.example/mcp"),
            tenant: "acme"
        )
        try await Self.withProxy("ok", assertionKeys: after) { fixture, upstream, _ in
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { client in
                let reply = try await client.callTool("lookup", token: token)
                #expect(reply.status == .ok, "\(reply.body)")
            }
            let (keys, kids) = try await Self.publishedKeys(fixture)
            #expect(kids == [after.signingKey(tenant: "acme").kid, before.signingKey(tenant: "acme").kid])
            #expect(try await keys.verify(oldAssertion, as: ProxyClaims.self).sub == "usr_x")
            let fresh = try Self.assertion(in: try #require(upstream.requests.last))
            let header = try JSONSerialization.jsonObject(with: Data(Base64URL.decode(String(fresh.split(separator: ".")[0]))!)) as? [String: Any]
            #expect(header?["kid"] as? String == kids[0])
            _ = try await keys.verify(fresh, as: ProxyClaims.self)
            // Keys are the tenant's own: another tenant's JWKS does not verify them.
            try await fixture.tenant("other")
            let (otherKeys, otherKids) = try await Self.publishedKeys(fixture, host: "other.example")
            #expect(Set(otherKids).isDisjoint(with: kids))
            await #expect(throws: (any Error).self) { _ = try await otherKeys.verify(fresh, as: ProxyClaims.self) }
        }
    }

    @Test("A tenant switched from hosted to proxy at runtime is proxied from its next request")
    func hostedToProxy() async throws {
        let upstream = ScriptedMCPUpstream()
        try await upstream.run { base in
            try await ToolHostFixture.run { fixture in
                try await fixture.tenant("acme")
                let token = try await fixture.accessToken()
                try await fixture.application().test(.live) { client in
                    let hosted = try await client.callTool("whoami", token: token)
                    #expect(hosted.status == .ok && hosted.body.contains("ada@example.org"))
                    try await fixture.tenant("acme", version: 2, mcp: Self.proxy(base, "ok"))
                    let proxied = try await client.callTool("whoami", token: token)
                    #expect(proxied.status == .ok && proxied.body.contains(#""text":"done""#), "\(proxied.body)")
                }
                #expect(upstream.requests.count == 1)
            }
        }
    }
}

/// The claims of an identity assertion as a verifier reads them.
struct ProxyClaims: JWTPayload {
    var iss: String
    var aud: String
    var sub: String
    var iat: Int
    var exp: Int
    var jti: String
    var client_id: String
    var scope: String
    var email: String?
    var email_verified: Bool?
    var name: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        guard Double(exp) > Date().timeIntervalSince1970 else { throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "expired") }
    }
}
