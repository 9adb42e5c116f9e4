import Crypto
import Foundation
import GatehouseCrypto
import GatehouseTestSupport
import PostgresNIO
import Testing

/// The client credentials grant end to end, services as processes behind the TLS front door:
/// the operator turns it on and registers two clients through the admin API, and the official
/// Python MCP SDK's client credentials providers (one with a secret, one signing its assertions
/// with PyJWT) discover the authorization server from the 401, get their tokens and call tools
/// as service principals.
@Suite("System: service principals through the front door")
struct SystemServicePrincipalTests {
    @Test("The Python SDK's client_secret_basic and private_key_jwt providers get tokens and call whoami as the client itself")
    func pythonProviders() async throws {
        try await SystemProxyTests.withPlatform { platform, github, upstreamBase in
            let origin = platform.frontDoor.origin
            try await platform.createTenant(upstream: github.app(at: upstreamBase))
            try await platform.updateTenant(#"{"grants": {"client_credentials": true}}"#)

            let secretClient = try await platform.registerServiceClient(#"{"client_name": "Nightly sync"}"#)
            let key = P256.Signing.PrivateKey()
            let raw = Array(key.publicKey.rawRepresentation)
            let jwk =
                #"{"kty": "EC", "crv": "P-256", "kid": "agent-1", "x": "\#(Base64URL.encode(Array(raw[0..<32])))", "y": "\#(Base64URL.encode(Array(raw[32..<64])))"}"#
            let signingClient = try await platform.registerServiceClient(
                #"{"client_name": "Agent", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [\#(jwk)]}}"#
            )
            let basicId = try #require(secretClient["client_id"] as? String)
            let secret = try #require(secretClient["client_secret"] as? String)
            let signingId = try #require(signingClient["client_id"] as? String)
            let pem = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-agent-\(UUID().uuidString).pem")
            try key.pemRepresentation.write(to: pem, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: pem) }

            // The token service learns the setting and the clients from the gateway's events.
            try await eventually("the token service offers client credentials to both clients", timeout: .seconds(30), interval: .milliseconds(200)) {
                let rows = try await platform.query(
                    """
                    SELECT count(*)::text FROM tokens.clients WHERE client_id IN (\(basicId), \(signingId))
                    UNION ALL SELECT (tenant->'grants'->>'client_credentials') FROM tokens.tenants WHERE id = 'acme'
                    """
                )
                return rows.map { $0.first ?? "" } == ["2", "true"]
            }

            for (method, clientId, credential) in [("basic", basicId, secret), ("jwt", signingId, pem.path)] {
                let seen = try await runPythonClient(
                    "Tests/Upstreams/service_client.py",
                    arguments: [origin + "/mcp", origin, method, clientId, credential, "whoami"]
                )
                #expect(seen["is_error"] as? Bool == false, "\(method): \(seen)")
                #expect(seen["tools"] as? [String] == ["list_my_support_requests", "whoami"], "\(method): \(seen)")
                let structured = seen["structured"] as? [String: Any]
                #expect(structured?["principal"] as? String == "service" && structured?["clientId"] as? String == clientId, "\(method): \(seen)")
                #expect(structured?["userId"] == nil)
            }

            let issued = try await platform.query(
                """
                SELECT envelope::jsonb->'payload'->>'client_id', coalesce(envelope::jsonb->'payload'->>'user_id', '-'),
                       envelope::jsonb->'payload'->>'grant_type'
                FROM tokens.outbox WHERE event_type = 'token.issued' ORDER BY id
                """
            )
            #expect(issued.map { $0[0] }.sorted() == [basicId, signingId].sorted(), "\(issued)")
            #expect(issued.allSatisfy { $0[1] == "-" && $0[2] == "client_credentials" }, "\(issued)")
            let invoked = try await platform.query(
                """
                SELECT envelope::jsonb->'payload'->>'client_id', coalesce(envelope::jsonb->'payload'->>'user_id', '-')
                FROM toolhost.outbox WHERE event_type = 'tool.invoked' ORDER BY id
                """
            )
            #expect(Set(invoked.map { $0[0] }) == [basicId, signingId] && invoked.allSatisfy { $0[1] == "-" }, "\(invoked)")
            let assertions = try await platform.query("SELECT count(*)::text FROM tokens.client_assertions WHERE client_id = \(signingId)")
            #expect(assertions == [["1"]], "one assertion, recorded once: \(assertions)")
        }
    }
}
