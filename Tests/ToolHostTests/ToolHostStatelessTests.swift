import Foundation
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceFixtures
import Testing

@testable import MCPToolHost

/// MCP 2026-07-28 (the stateless era) at the hosted tools, beside the 2025 era on the same
/// `/mcp`: raw requests for every rule, each with its bad input.
@Suite("Tool host: the stateless era (2026-07-28)")
struct ToolHostStatelessTests {
    static let version = "2026-07-28"

    /// A stateless request: `_meta` and the routing headers as a well-behaved client sends them.
    static func request(
        _ method: String,
        params: String = "{}",
        id: Int = 1,
        version: String = version,
        name: String? = nil
    ) -> (body: String, headers: HTTPFields) {
        let meta =
            #""_meta":{"io.modelcontextprotocol/protocolVersion":"\#(version)","io.modelcontextprotocol/clientCapabilities":{},"#
            + #""io.modelcontextprotocol/clientInfo":{"name":"raw-test","version":"1"}}"#
        let inner = params == "{}" ? "{\(meta)}" : "{\(meta)," + params.dropFirst()
        var headers: HTTPFields = [.mcpProtocolVersion: version, .mcpMethod: method]
        if let name { headers[.mcpName] = name }
        return (#"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(inner)}"#, headers)
    }

    static func call(_ tool: String, id: Int = 1) -> (body: String, headers: HTTPFields) {
        request("tools/call", params: #"{"name":"\#(tool)","arguments":{}}"#, id: id, name: tool)
    }

    @Test("server/discover names both eras' versions, the tools capability and the server; no session is issued")
    func discover() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                let (body, headers) = Self.request("server/discover")
                let answer = try await http.mcp(body, token: token, headers: headers)
                #expect(answer.status == .ok, "\(answer.body)")
                #expect(answer.headers[.mcpSessionId] == nil)
                #expect(
                    answer.result["supportedVersions"] as? [String] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"],
                    "\(answer.body)"
                )
                #expect((answer.result["capabilities"] as? [String: Any])?["tools"] != nil)
                #expect(answer.result["resultType"] as? String == "complete")
                #expect(answer.result["cacheScope"] as? String == "public")
                #expect((answer.result["ttlMs"] as? Int).map { $0 > 0 } == true)
                let info = (answer.result["_meta"] as? [String: Any])?["io.modelcontextprotocol/serverInfo"] as? [String: Any]
                #expect(info?["name"] as? String == "gatehouse-tool-host")

                // Authentication is the same as in the other era.
                let anonymous = try await http.mcp(body, headers: headers)
                #expect(anonymous.status == .unauthorized)
                #expect(anonymous.challenge.contains(ToolHostAuthenticationTests.resourceMetadata))
            }
        }
    }

    @Test("tools/list is the caller's own: a tool their scopes cannot call is left out, and calling it anyway is 403")
    func perUserToolList() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let full = try await fixture.accessToken(subject: "ada", scopes: ["mcp:tools", "email", "profile"])
            let narrow = try await fixture.accessToken(subject: "bob", scopes: ["mcp:tools"])
            try await fixture.application().test(.live) { http in
                let (body, headers) = Self.request("tools/list")
                let all = try await http.mcp(body, token: full, headers: headers)
                #expect(all.status == .ok)
                let names = (all.result["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                #expect(names?.sorted() == ["get_support", "list_my_support_requests", "whoami"])
                #expect(all.result["cacheScope"] as? String == "private")
                #expect(all.result["resultType"] as? String == "complete")

                let fewer = try await http.mcp(body, token: narrow, headers: headers)
                let visible = (fewer.result["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                #expect(visible?.sorted() == ["list_my_support_requests", "whoami"])
                #expect(fewer.result["cacheScope"] as? String == "private")

                let (hiddenBody, hiddenHeaders) = Self.request(
                    "tools/call",
                    params: #"{"name":"get_support","arguments":{"subject":"s","message":"m"}}"#,
                    name: "get_support"
                )
                let hidden = try await http.mcp(hiddenBody, token: narrow, headers: hiddenHeaders)
                #expect(hidden.status == .forbidden)
                #expect(hidden.challenge.contains(#"error="insufficient_scope""#))
                #expect(hidden.challenge.contains(#"scope="mcp:tools email""#))
                #expect(hidden.challenge.contains(ToolHostAuthenticationTests.resourceMetadata))
            }
        }
    }

    @Test("tools/call answers with resultType; a session id sent anyway is ignored; the call is recorded")
    func callIgnoresSessions() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken(subject: "ada")
            try await fixture.application().test(.live) { http in
                let (body, headers) = Self.call("whoami")
                let answer = try await http.mcp(body, token: token, session: "not-a-session-of-anyone", headers: headers)
                #expect(answer.status == .ok, "\(answer.body)")
                #expect(answer.result["resultType"] as? String == "complete")
                #expect(answer.structured["userId"] as? String != nil)
                #expect(answer.headers[.mcpSessionId] == nil)
                #expect(try await fixture.outbox().map(\.type) == ["tool.invoked"])

                // The 2025 era still refuses a session id that is not the caller's.
                let old = try await http.callTool("whoami", token: token, session: "not-a-session-of-anyone")
                #expect(old.status == .notFound)
            }
        }
    }

    @Test(
        "Each broken rule is refused with its JSON-RPC code before any method runs",
        arguments: [
            "version header differs from _meta", "unsupported version", "header without _meta", "_meta without header",
            "_meta without capabilities", "no Mcp-Method", "wrong Mcp-Method", "Mcp-Method twice", "no Mcp-Name", "wrong Mcp-Name",
            "malformed Base64 Mcp-Name", "unknown method", "initialize",
        ]
    )
    func brokenRules(_ rule: String) async throws {
        var (body, headers) = Self.call("whoami")
        var expected: (HTTPResponse.Status, Int) = (.badRequest, -32020)
        switch rule {
        case "version header differs from _meta":
            headers[.mcpProtocolVersion] = "2026-01-01"
        case "unsupported version":
            (body, headers) = Self.request("tools/list", version: "2099-01-01")
            expected = (.badRequest, -32022)
        case "header without _meta":
            body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#
            expected = (.badRequest, -32602)
        case "_meta without header":
            headers[.mcpProtocolVersion] = nil
        case "_meta without capabilities":
            body = body.replacingOccurrences(of: #""io.modelcontextprotocol/clientCapabilities":{},"#, with: "")
            expected = (.badRequest, -32602)
        case "no Mcp-Method":
            headers[.mcpMethod] = nil
        case "wrong Mcp-Method":
            headers[.mcpMethod] = "tools/list"
        case "Mcp-Method twice":
            headers.append(HTTPField(name: .mcpMethod, value: "tools/call"))
        case "no Mcp-Name":
            headers[.mcpName] = nil
        case "wrong Mcp-Name":
            headers[.mcpName] = "get_support"
        case "malformed Base64 Mcp-Name":
            headers[.mcpName] = "=?base64?d2hvYW1p!?="
        case "unknown method":
            (body, headers) = Self.request("ping")
            expected = (.notFound, -32601)
        case "initialize":
            (body, headers) = Self.request("initialize")
            expected = (.notFound, -32601)
        default:
            Issue.record("unknown rule \(rule)")
        }
        let (message, fields, status, code) = (body, headers, expected.0, expected.1)
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                let answer = try await http.mcp(message, token: token, headers: fields)
                #expect(answer.status == status, "\(rule): \(answer.body)")
                #expect((answer.json["error"] as? [String: Any])?["code"] as? Int == code, "\(rule): \(answer.body)")
                #expect(answer.json["id"] as? Int == 1, "\(rule)")
                if code == -32022 {
                    let data = (answer.json["error"] as? [String: Any])?["data"] as? [String: Any]
                    #expect((data?["supported"] as? [String])?.contains("2026-07-28") == true)
                    #expect(data?["requested"] as? String == "2099-01-01")
                }
                #expect(try await fixture.outbox().isEmpty, "\(rule): no tool ran")
            }
        }
    }

    @Test("A Base64-encoded Mcp-Name is decoded before it is compared; GET and DELETE are 405; notifications 202")
    func transportDetails() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                var (body, headers) = Self.call("whoami")
                headers[.mcpName] = "=?base64?" + Data("whoami".utf8).base64EncodedString() + "?="
                let encoded = try await http.mcp(body, token: token, headers: headers)
                #expect(encoded.status == .ok, "\(encoded.body)")

                for method: HTTPRequest.Method in [.get, .delete] {
                    let refused = try await http.mcp("", token: token, headers: [.mcpProtocolVersion: Self.version], method: method)
                    #expect(refused.status == .methodNotAllowed, "\(method)")
                    #expect(refused.headers[.allow]?.contains("POST") == true)
                }

                let meta =
                    #"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#
                let note = try await http.mcp(
                    #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"_meta":\#(meta),"requestId":7}}"#,
                    token: token,
                    headers: [.mcpProtocolVersion: Self.version, .mcpMethod: "notifications/cancelled"]
                )
                #expect(note.status == .accepted)
            }
        }
    }

    @Test("Clients of both eras call the same tenant at once, each getting its own answers")
    func bothErasAtOnce() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let ada = try await fixture.accessToken(subject: "ada", email: "ada@example.org")
            let bob = try await fixture.accessToken(subject: "bob", email: "bob@example.org")
            try await fixture.application().test(.live) { http in
                let initialize =
                    #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"#
                    + #""clientInfo":{"name":"old","version":"1"}}}"#
                let opened = try await http.mcp(initialize, token: bob, headers: [.mcpProtocolVersion: "2025-11-25"])
                let session = try #require(opened.headers[.mcpSessionId])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for round in 0..<10 {
                        group.addTask {
                            let (body, headers) = Self.call("whoami", id: round)
                            let answer = try await http.mcp(body, token: ada, headers: headers)
                            #expect(answer.status == .ok)
                            #expect(answer.result["resultType"] as? String == "complete")
                            #expect(answer.structured["email"] as? String == "ada@example.org")
                            #expect(answer.json["id"] as? Int == round)
                        }
                        group.addTask {
                            let answer = try await http.callTool(
                                "whoami",
                                id: "\(round)",
                                token: bob,
                                session: session,
                                headers: [.mcpProtocolVersion: "2025-11-25"]
                            )
                            #expect(answer.status == .ok)
                            #expect(answer.result["resultType"] == nil)
                            #expect(answer.structured["email"] as? String == "bob@example.org")
                            #expect(answer.headers[.mcpSessionId] == session)
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}

/// The stateless era's checks as plain functions: no server, no database.
@Suite("Stateless era rules")
struct StatelessRulesTests {
    @Test(
        "The era of a request comes from its version header, else from its _meta",
        arguments: [
            ("2025-11-25", false, ProtocolEra.handshake), ("2025-03-26", true, .handshake), ("2026-07-28", false, .stateless),
            ("2099-01-01", false, .stateless), (nil, true, .stateless), (nil, false, .handshake),
        ] as [(String?, Bool, ProtocolEra)]
    )
    func era(_ header: String?, _ hasMeta: Bool, _ expected: ProtocolEra) {
        let meta: [String: Any]? = hasMeta ? [StatelessEnvelope.protocolVersionKey: "2026-07-28"] : nil
        #expect(ProtocolEra.of(versionHeader: header, meta: meta) == expected)
    }

    @Test(
        "Header values are taken as they are or decoded from the Base64 sentinel; malformed encodings match nothing",
        arguments: [
            ("whoami", "whoami"), ("=?base64?d2hvYW1p?=", "whoami"), ("=?base64?w6nDqA==?=", "éè"), ("=?base64?d2hvYW1p!?=", nil),
            ("=?base64?d2hvYW1q?=", "whoamj"), ("=?base64?d2hvYW1pZ?=", nil),
        ] as [(String, String?)]
    )
    func headerValues(_ raw: String, _ expected: String?) {
        #expect(StatelessEnvelope.decodeHeaderValue(raw) == expected)
    }

    @Test("A complete request passes and names its client; the version is checked after the headers agree")
    func envelope() throws {
        let (body, headers) = ToolHostStatelessTests.call("whoami")
        let message = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let passed = try StatelessEnvelope.check(message, headers: headers).get()
        #expect(passed == StatelessEnvelope(protocolVersion: "2026-07-28", clientName: "raw-test"))

        var mismatched = headers
        mismatched[.mcpProtocolVersion] = "2099-01-01"
        guard case .failure(let rejection) = StatelessEnvelope.check(message, headers: mismatched) else {
            Issue.record("a header that disagrees with _meta passed")
            return
        }
        #expect(rejection.code == StatelessRejection.headerMismatch)
    }
}
