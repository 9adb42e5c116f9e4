import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import ServiceFixtures
import Testing

/// RFC 7591 dynamic client registration: what is accepted, what is refused (with the RFC's
/// error and nothing written), secrets shown once and stored as hashes, the event announced
/// through the outbox, and the per-address rate limit.
@Suite("Gateway: client registration")
struct GatewayRegistrationTests {
    @Test("A public native client and a confidential web client register; the secret is shown once and stored as a hash")
    func registerPublicAndConfidential() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let publicClient = try await client.send(
                    "/oauth/register",
                    method: .post,
                    host: "acme.example",
                    json: """
                        {"redirect_uris": ["http://127.0.0.1:33418/callback"], "token_endpoint_auth_method": "none",
                         "grant_types": ["authorization_code", "refresh_token"], "client_name": "Desktop <b>App</b>", "unknown_field": 1}
                        """
                )
                #expect(publicClient.status == .created)
                #expect(publicClient.headers[.cacheControl] == "no-store")
                let body = publicClient.json
                #expect((body["client_id"] as? String)?.hasPrefix("mcp_client_") == true)
                #expect(body["client_secret"] == nil)
                #expect(body["application_type"] as? String == "native")
                #expect(body["token_endpoint_auth_method"] as? String == "none")
                #expect(body["redirect_uris"] as? [String] == ["http://127.0.0.1:33418/callback"])
                #expect(body["grant_types"] as? [String] == ["authorization_code", "refresh_token"])
                #expect(body["client_name"] as? String == "Desktop <b>App</b>")
                #expect(body["unknown_field"] == nil)
                #expect(body["client_id_issued_at"] is Int)

                // Root alias; the default method is client_secret_basic (RFC 7591).
                let web = try await client.send(
                    "/register",
                    method: .post,
                    host: "acme.example",
                    json: #"{"redirect_uris": ["https://app.example/oauth/callback"], "scope": "mcp:tools offline_access"}"#
                )
                #expect(web.status == .created)
                let secret = try #require(web.json["client_secret"] as? String)
                #expect(secret.hasPrefix("mcp_secret_") && secret.count >= 40)
                #expect(web.json["client_secret_expires_at"] as? Int == 0)
                #expect(web.json["application_type"] as? String == "web")
                #expect(web.json["token_endpoint_auth_method"] as? String == "client_secret_basic")
                let webID = try #require(web.json["client_id"] as? String)

                // Stored: the hash, never the secret; announced with the hash only.
                let rows = try await fixture.client.query(
                    "SELECT client_secret_hash, metadata::text FROM gateway.clients WHERE client_id = \(webID)"
                )
                for try await (hash, metadata) in rows.decode((String?, String).self) {
                    #expect(hash == SecretHash.of(secret))
                    #expect(!metadata.contains(secret))
                }
                let events = try await fixture.client.query("SELECT envelope FROM gateway.outbox WHERE event_type <> 'tenant.updated' ORDER BY id")
                var announced: [ClientRegistered] = []
                for try await text in events.decode(String.self) {
                    #expect(!text.contains(secret))
                    announced.append(try EventCodec.decode(ClientRegistered.self, from: Array(text.utf8)).payload)
                }
                #expect(announced.map(\.clientId).last == webID)
                #expect(announced.last?.clientSecretHash == SecretHash.of(secret))
                #expect(announced.first?.tokenEndpointAuthMethod == "none")

                // The admin API lists them, without secrets.
                let listed = try await client.send("/admin/tenants/acme/clients", token: GatewayFixture.operatorToken)
                #expect(listed.status == .ok)
                #expect((listed.json["clients"] as? [[String: Any]])?.count == 2)
                #expect(!listed.body.contains(secret) && !listed.body.contains(SecretHash.of(secret)))
            }
        }
    }

    /// Each refused registration: the body, the expected error code.
    static let refused: [(String, String)] = [
        (#"{}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": []}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["/relative/callback"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://app.example/cb#fragment"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["javascript:alert(1)"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["JavaScript:alert(1)"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": [" javascript:alert(1)"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["java\tscript:alert(1)"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["data:text/html,<script>alert(1)</script>"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["file:///etc/passwd"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["vbscript:msgbox"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["http://app.example/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://user:pass@app.example/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://*.app.example/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://app.example/*"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["http://127.0.0.1:*/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["com.example.app:/cb*"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https:///no-host"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://app.example/cb", "https://app.example/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://app.example/\#(String(repeating: "a", count: 2000))"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": [\#((0..<11).map { "\"https://app.example/\($0)\"" }.joined(separator: ","))]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://app.exämple/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["http://127.0.0.1/cb"], "application_type": "web"}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["com.example.app:/cb"], "application_type": "web"}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris": ["https://app.example/cb"], "application_type": "desktop"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "grant_types": ["refresh_token"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "grant_types": ["implicit", "authorization_code"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "scope": "admin"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "scope": ""}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "client_name": ""}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "client_name": "\#(String(repeating: "n", count: 201))"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "client_name": "bad\u0007name"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "logo_uri": "http://app.example/logo.png"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "client_uri": "javascript:alert(1)"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": "https://app.example/cb"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": 5}"#, "invalid_client_metadata"),
        (#"["https://app.example/cb"]"#, "invalid_client_metadata"),
        (#"not json"#, "invalid_client_metadata"),
    ]

    @Test("Every bad registration is 400 with the RFC 7591 error, and nothing is written", arguments: Array(refused.indices))
    func refusedRegistration(_ index: Int) async throws {
        let (body, code) = Self.refused[index]
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let response = try await client.send("/oauth/register", method: .post, host: "acme.example", json: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.json["error"] as? String == code, "\(body): \(response.body)")
                #expect(response.json["error_description"] is String)
            }
            #expect(try await fixture.count("clients") == 0)
            #expect(try await fixture.eventTypes() == ["tenant.updated"])
        }
    }

    @Test("A body that is not JSON by content type, or too large, is refused without a row")
    func contentTypeAndSize() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                let form = try await client.send(
                    "/oauth/register",
                    method: .post,
                    host: "acme.example",
                    headers: [.contentType: "application/x-www-form-urlencoded"],
                    json: "redirect_uris=https://app.example/cb"
                )
                #expect(form.status == .badRequest)
                #expect(form.json["error"] as? String == "invalid_client_metadata")
                let padding = String(repeating: "x", count: 20_000)
                let large = try await client.send(
                    "/oauth/register",
                    method: .post,
                    host: "acme.example",
                    json: #"{"redirect_uris": ["https://app.example/cb"], "software_statement": "\#(padding)"}"#
                )
                #expect(large.status == .badRequest)
            }
            #expect(try await fixture.count("clients") == 0)
        }
    }

    @Test("Registrations over the per-address limit get 429 with Retry-After, and write nothing")
    func rateLimited() async throws {
        try await GatewayFixture.run(registrationsPerMinute: 3) { fixture in
            try await fixture.tenant("acme")
            try await fixture.application().test(.live) { client in
                var statuses: [HTTPResponse.Status] = []
                var retryAfter: String?
                for _ in 0..<5 {
                    let response = try await client.send(
                        "/oauth/register",
                        method: .post,
                        host: "acme.example",
                        json: #"{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}"#
                    )
                    statuses.append(response.status)
                    if response.status == .tooManyRequests { retryAfter = response.headers[.retryAfter] }
                }
                #expect(statuses == [.created, .created, .created, .tooManyRequests, .tooManyRequests])
                #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 && $0 <= 60 } == true)
            }
            #expect(try await fixture.count("clients") == 3)
        }
    }

    @Test("Registrations never used expire: disabled, announced with client.updated, refused at authorize; used ones stay")
    func unusedRegistrationsExpire() async throws {
        try await GatewayFixture.run { fixture in
            try await fixture.tenant("acme")
            let metadata = ClientMetadata(
                redirectUris: ["http://127.0.0.1:5555/cb"],
                tokenEndpointAuthMethod: "none",
                grantTypes: ["authorization_code"],
                responseTypes: ["code"],
                applicationType: "native"
            )
            let unused = try await fixture.parts.clients.register(metadata, tenant: "acme", from: nil, unusedLifetime: .zero)
            let used = try await fixture.parts.clients.register(metadata, tenant: "acme", from: nil, unusedLifetime: .zero)
            let fresh = try await fixture.parts.clients.register(metadata, tenant: "acme", from: nil, unusedLifetime: .seconds(3600))
            // A code was issued to `used` (the callback clears its expiry).
            try await fixture.client.query(
                "UPDATE gateway.clients SET expires_at = NULL WHERE client_id = \(used.clientId)"
            )
            try await Task.sleep(for: .milliseconds(20))

            let sweeper = ExpirySweeper(client: fixture.client, schema: fixture.schema, logger: fixture.logger)
            #expect(try await sweeper.expireUnusedClients() == 1)
            #expect(try await sweeper.expireUnusedClients() == 0)
            let rows = try await fixture.client.query("SELECT client_id, disabled FROM gateway.clients")
            var disabled: [String: Bool] = [:]
            for try await (id, flag) in rows.decode((String, Bool).self) { disabled[id] = flag }
            #expect(disabled == [unused.clientId: true, used.clientId: false, fresh.clientId: false])

            let envelopes = try await fixture.client.query("SELECT envelope FROM gateway.outbox WHERE event_type = 'client.updated'")
            var updates: [EventEnvelope<ClientUpdated>] = []
            for try await text in envelopes.decode(String.self) { updates.append(try EventCodec.decode(ClientUpdated.self, from: Array(text.utf8))) }
            #expect(updates.map(\.payload.client.clientId) == [unused.clientId])
            #expect(updates.first?.payload.disabled == true && updates.first?.header.aggregateVersion == 2)

            try await fixture.application().test(.live) { client in
                let query =
                    "/oauth/authorize?response_type=code&client_id=\(unused.clientId)&code_challenge=\(PKCE.challenge(for: String(repeating: "v", count: 43)))&code_challenge_method=S256"
                let response = try await client.send(query, host: "acme.example")
                #expect(response.status == .badRequest && response.headers[.location] == nil)
            }
        }
    }

    @Test(
        "Redirect URIs match exactly; a loopback redirect may change only its port (RFC 8252)",
        arguments: [
            ("https://app.example/cb", "https://app.example/cb", true),
            ("https://app.example/cb", "https://app.example/cb/", false),
            ("https://app.example/cb", "https://APP.example/cb", false),
            ("https://app.example/cb", "https://app.example/cb?x=1", false),
            ("https://app.example:8443/cb", "https://app.example:9443/cb", false),
            ("http://127.0.0.1:1234/cb", "http://127.0.0.1:5678/cb", true),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5678/cb", true),
            ("http://127.0.0.1:1234/cb", "http://127.0.0.1:5678/other", false),
            ("http://localhost:1234/cb", "http://127.0.0.1:1234/cb", false),
            ("com.example.app:/cb", "com.example.app:/cb", true),
            ("com.example.app:/cb", "com.example.app:/cb2", false),
        ]
    )
    func redirectMatching(_ registered: String, _ presented: String, _ expected: Bool) {
        #expect(ClientRegistrationRules.matches(presented: presented, registered: registered) == expected)
    }
}
