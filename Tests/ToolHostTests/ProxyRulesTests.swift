import AuthorizationGateway
import Crypto
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import HTTPTypes
import NIOCore
import NIOHTTP1
import Testing

@testable import MCPToolHost

/// The proxy's rules and parts as plain functions: no server, no database.
@Suite("Proxy rules as plain functions")
struct ProxyRulesTests {
    static let hosts: [(String, Bool)] = [
        ("127.0.0.1", true), ("10.1.2.3", true), ("172.16.0.1", true), ("172.32.0.1", false), ("192.168.1.1", true),
        ("8.8.8.8", false), ("localhost", true), ("mcp.localhost", true), ("tools.internal", true), ("sample-mcp", true),
        ("[::1]", true), ("tools.example.com", false), ("[2001:db8::1]", false),
    ]

    @Test("http upstreams only on loopback or private hosts", arguments: Array(hosts.indices))
    func privateHosts(_ index: Int) {
        let (host, allowed) = Self.hosts[index]
        let settings = MCPEndpointSettings(mode: .proxy, upstreamUrl: "http://\(host):8000/mcp", allowHttp: true)
        let accepted = (try? TenantRules.validate(settings, authMode: .oauth)) != nil
        #expect(accepted == allowed, "\(host)")
    }

    @Test("Tool rules: exact names and prefixes; every scope each names, once, in order")
    func toolRules() {
        let settings = MCPEndpointSettings(
            toolScopes: [
                ToolScopeRule(tool: "admin_*", scopes: ["profile"]), ToolScopeRule(tool: "admin_delete", scopes: ["email", "profile"]),
                ToolScopeRule(tool: "*", scopes: ["mcp:tools"]),
            ]
        )
        #expect(settings.requiredScopes(forTool: "admin_delete") == ["profile", "email", "mcp:tools"])
        #expect(settings.requiredScopes(forTool: "admin_list") == ["profile", "mcp:tools"])
        #expect(settings.requiredScopes(forTool: "admin") == ["mcp:tools"])
        #expect(settings.ruleScopes == ["profile", "email", "mcp:tools"])
    }

    @Test("An event stream is cut into whole events, across chunks and line endings; data is read and replaced")
    func eventSplitting() throws {
        var splitter = SSEEventSplitter(limit: 1024)
        #expect(try splitter.feed(ByteBuffer(string: "event: message\ndata: {\"a\":")).isEmpty)
        let first = try splitter.feed(ByteBuffer(string: "1}\n\nid: 2\r\ndata: x\r\ndata: y\r\n\r\n: comment\n"))
        #expect(first.count == 2)
        #expect(SSEEventSplitter.data(of: first[0]) == Array(#"{"a":1}"#.utf8))
        #expect(SSEEventSplitter.data(of: first[1]) == Array("x\ny".utf8))
        // The LF of the last CRLF stays with the bytes that follow: nothing is lost or reordered.
        #expect(splitter.remainder == Array("\n: comment\n".utf8))
        let replaced = SSEEventSplitter.replacingData(of: first[1], with: Array("{}".utf8))
        #expect(String(decoding: replaced, as: UTF8.self) == "id: 2\ndata: {}\n\n")
        var small = SSEEventSplitter(limit: 8)
        #expect(throws: SSEEventSplitter.EventTooLarge.self) { try small.feed(ByteBuffer(string: "data: 0123456789")) }
    }

    @Test("A wrapped session id opens only for the tenant and user it was made for")
    func sessions() {
        let sessions = ProxySessions(sessionKey: SymmetricKey(size: .bits256))
        let wrapped = sessions.wrap("abc-123", tenant: "acme", subject: "usr_1")!
        #expect(!wrapped.contains("abc-123") && wrapped.utf8.allSatisfy { (0x21...0x7E).contains($0) })
        #expect(sessions.unwrap(wrapped, tenant: "acme", subject: "usr_1") == "abc-123")
        #expect(sessions.unwrap(wrapped, tenant: "acme", subject: "usr_2") == nil)
        #expect(sessions.unwrap(wrapped, tenant: "other", subject: "usr_1") == nil)
        // One character changed inside the ciphertext (not the last, whose low bits base64 ignores).
        var tampered = Array(wrapped)
        tampered[10] = tampered[10] == "A" ? "B" : "A"
        #expect(sessions.unwrap(String(tampered), tenant: "acme", subject: "usr_1") == nil)
        #expect(sessions.wrap("has space", tenant: "acme", subject: "usr_1") == nil)
        let other = ProxySessions(sessionKey: SymmetricKey(size: .bits256))
        #expect(other.unwrap(wrapped, tenant: "acme", subject: "usr_1") == nil)
    }

    @Test("Assertion keys: one per tenant and ring key, stable, named by their RFC 7638 thumbprint")
    func assertionKeys() throws {
        let key = Base64URL.encode(Array(repeating: UInt8(3), count: 32))
        let keys = try IdentityAssertionKeys(specification: "k1:\(key)")
        let again = try IdentityAssertionKeys(specification: "k1:\(key)")
        #expect(keys.signingKey(tenant: "acme").kid == again.signingKey(tenant: "acme").kid)
        #expect(keys.signingKey(tenant: "acme").kid != keys.signingKey(tenant: "other").kid)
        let jwk = keys.publicJWKs(tenant: "acme")[0]
        #expect(jwk["kty"] == "EC" && jwk["crv"] == "P-256" && jwk["alg"] == "ES256" && jwk["use"] == "sig" && jwk["d"] == nil)
        let thumbprint = #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!)","y":"\#(jwk["y"]!)"}"#
        #expect(jwk["kid"] == Base64URL.encode(Array(SHA256.hash(data: Array(thumbprint.utf8)))))
    }

    @Test("A signed assertion is a standard ES256 JWS: JSON that escapes what it must, a signature the tenant's key verifies")
    func signedAssertion() throws {
        let keys = try IdentityAssertionKeys(specification: "k1:" + Base64URL.encode(Array(repeating: UInt8(5), count: 32)))
        let principal = Principal(
            tenant: "acme",
            userId: "usr_1",
            clientId: "client \"one\"",
            email: "zoë@example.org",
            emailVerified: true,
            name: "Ada \"the\" Countess\n\u{2028}",
            scopes: ["mcp:tools", "email", "profile"],
            expiresAt: Date(timeIntervalSince1970: 1_000_100.9)
        )
        let assertion = IdentityAssertion(
            principal: principal,
            issuer: "https://acme.example",
            audience: "https://up.example/mcp",
            now: Date(timeIntervalSince1970: 1_000_000.7)
        )
        let jwt = try AssertionSigner(keys: keys).sign(assertion, tenant: "acme")
        let parts = jwt.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        let headerBytes = try #require(Base64URL.decode(parts[0]))
        let claimBytes = try #require(Base64URL.decode(parts[1]))
        let header = try JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: String]
        #expect(header == ["alg": "ES256", "typ": "JWT", "kid": keys.signingKey(tenant: "acme").kid])
        let decoded = try JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any]
        let claims = try #require(decoded)
        #expect(claims["name"] as? String == principal.name && claims["client_id"] as? String == principal.clientId.rawValue)
        #expect(claims["email"] as? String == "zoë@example.org" && claims["email_verified"] as? Bool == true)
        #expect(claims["aud"] as? String == "https://up.example/mcp" && claims["sub"] as? String == "usr_1")
        // Whole seconds, and never past the token: issued at 1,000,000, the token ends at 1,000,100.
        #expect(claims["iat"] as? Int == 1_000_000 && claims["exp"] as? Int == 1_000_100)
        #expect(claims["scope"] as? String == "email mcp:tools profile")

        let signatureBytes = try #require(Base64URL.decode(parts[2]))
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: signatureBytes)
        let publicKey = keys.signingKey(tenant: "acme").privateKey.publicKey
        #expect(publicKey.isValidSignature(signature, for: Array((parts[0] + "." + parts[1]).utf8)))
        #expect(!publicKey.isValidSignature(signature, for: Array((parts[0] + "." + parts[1] + "x").utf8)))

        // Without the profile scopes, no profile claims; a long-lived token still gives 300 s.
        var narrow = principal
        narrow.scopes = ["mcp:tools"]
        narrow.expiresAt = nil
        let bare = IdentityAssertion(principal: narrow, issuer: "https://acme.example", audience: "a", now: Date(timeIntervalSince1970: 5))
        #expect(bare.email == nil && bare.emailVerified == nil && bare.name == nil)
        #expect(bare.expiresAt - bare.issuedAt == 300)
    }

    @Test("The tool host's proxy settings from the environment: assertion keys, limits, and the gateway URL with its token, together or not at all")
    func configuration() throws {
        let base = [
            "GATEHOUSE_TOKEN_SERVICE_URL": "http://token-service:8082", "GATEHOUSE_INTROSPECTION_SECRET": String(repeating: "s", count: 32),
            "GATEHOUSE_MCP_SESSION_KEY": String(repeating: "k", count: 32),
        ]
        let plain = try ToolHostConfiguration(environment: base)
        #expect(plain.assertionKeys == nil && plain.gateway == nil && plain.proxyMaximumResponseBytes == 16 << 20)
        let key = Base64URL.encode(Array(repeating: UInt8(1), count: 32))
        let full = try ToolHostConfiguration(
            environment: base.merging([
                "GATEHOUSE_ASSERTION_KEYS": "k1:\(key)", "GATEHOUSE_GATEWAY_URL": "http://gateway:8081/",
                "GATEHOUSE_INTERNAL_TOKEN": String(repeating: "i", count: 32), "GATEHOUSE_PROXY_MAX_RESPONSE_BYTES": "2048",
            ]) { $1 }
        )
        #expect(full.assertionKeys != nil && full.gateway?.url == "http://gateway:8081" && full.proxyMaximumResponseBytes == 2048)
        #expect(throws: (any Error).self) {
            try ToolHostConfiguration(environment: base.merging(["GATEHOUSE_GATEWAY_URL": "http://gateway:8081"]) { $1 })
        }
        #expect(throws: (any Error).self) { try ToolHostConfiguration(environment: base.merging(["GATEHOUSE_ASSERTION_KEYS": "k1:short"]) { $1 }) }
    }

    @Test("The client's credentials, cookies and hop-by-hop headers never reach the upstream; protocol headers do")
    func forwardedHeaders() {
        let fields: HTTPFields = [
            .authorization: "Bearer client-token", .cookie: "a=b", .connection: "close, X-Private", HTTPField.Name("X-Private")!: "1",
            HTTPField.Name("MCP-Protocol-Version")!: "2025-11-25", .accept: "application/json, text/event-stream",
            .contentType: "application/json", HTTPField.Name("Last-Event-ID")!: "7", HTTPField.Name("X-Identity")!: "forged",
            HTTPField.Name("Mcp-Session-Id")!: "wrapped", .origin: "https://acme.example", HTTPField.Name("DPoP")!: "proof",
        ]
        let headers = MCPProxy.forwardedHeaders(fields, excluding: ["X-Identity"])
        let names = Set(headers.map { $0.name.lowercased() })
        #expect(names == ["mcp-protocol-version", "accept", "content-type", "last-event-id", "accept-encoding"])
        let back = MCPProxy.returnedHeaders([
            "Set-Cookie": "x=1", "WWW-Authenticate": "Bearer", "Content-Type": "text/event-stream", "Retry-After": "3",
        ])
        #expect(back[.setCookie] == nil && back[.wwwAuthenticate] == nil && back[.contentType] == "text/event-stream" && back[.retryAfter] == "3")
    }
}
