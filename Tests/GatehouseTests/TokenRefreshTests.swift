import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing
import TokenService

/// Refresh token rotation against real PostgreSQL: the grace window, reuse detection, scope
/// narrowing, and the races (parallel refreshes, revocation against refresh).
@Suite("Token service: refresh rotation")
struct TokenRefreshTests {
    /// Redeems a fresh code: (access token, refresh token).
    static func tokens(_ http: some TestClientProtocol, _ client: TokenFixture.Client) async throws -> (access: String, refresh: String) {
        let json = try await http.redeem(try TokenFixture.code(for: client), client: client).json
        return (try #require(json["access_token"] as? String), try #require(json["refresh_token"] as? String))
    }

    static func refreshed(_ result: HTTPResult) throws -> (access: String, refresh: String) {
        #expect(result.status == .ok, "\(result.body)")
        return (try #require(result.json["access_token"] as? String), try #require(result.json["refresh_token"] as? String))
    }

    static func isActive(_ http: some TestClientProtocol, _ access: String) async throws -> Bool {
        try await http.introspect(access).json["active"] as? Bool == true
    }

    @Test("Every refresh rotates; the previous token is accepted again only in the grace window and until its successor is used")
    func rotationAndGrace() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client(method: "client_secret_basic")
            try await fixture.application().test(.live) { http in
                let first = try await Self.tokens(http, client)
                let second = try Self.refreshed(try await http.refresh(first.refresh, client: client))
                #expect(second.refresh != first.refresh && second.access != first.access)
                // The response was lost: the client retries with the old token, inside the grace window.
                let retry = try Self.refreshed(try await http.refresh(first.refresh, client: client))
                #expect(retry.refresh != second.refresh)
                // The successor it holds now is used: from then on the old token is reuse.
                let third = try Self.refreshed(try await http.refresh(retry.refresh, client: client))
                let reuse = try await http.refresh(first.refresh, client: client)
                #expect(reuse.status == .badRequest && reuse.json["error"] as? String == "invalid_grant")
                // Reuse revoked the whole family.
                #expect(try await http.refresh(third.refresh, client: client).json["error"] as? String == "invalid_grant")
                for access in [first.access, second.access, retry.access, third.access] {
                    #expect(try await !Self.isActive(http, access))
                }
                let types = try await fixture.outboxTypes()
                #expect(types == ["token.issued", "token.refreshed", "token.refreshed", "token.refreshed", "token.reuse-detected", "token.revoked"])
            }
        }
    }

    @Test("Outside the grace window the previous token is reuse at once")
    func noGrace() async throws {
        try await TokenFixture.run(configuration: TokenFixture.configuration(grace: .zero)) { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let first = try await Self.tokens(http, client)
                let second = try Self.refreshed(try await http.refresh(first.refresh, client: client))
                #expect(try await http.refresh(first.refresh, client: client).json["error"] as? String == "invalid_grant")
                #expect(try await http.refresh(second.refresh, client: client).json["error"] as? String == "invalid_grant")
            }
        }
    }

    @Test("A narrower scope is granted for the access token only; a wider one is invalid_scope; another client's token invalid_grant")
    func scopesAndClients() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let stranger = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let first = try await Self.tokens(http, client)
                let wider = try await http.refresh(first.refresh, client: client, scope: "mcp:tools admin")
                #expect(wider.status == .badRequest && wider.json["error"] as? String == "invalid_scope")
                let narrow = try await http.refresh(first.refresh, client: client, scope: "mcp:tools")
                #expect(narrow.json["scope"] as? String == "mcp:tools")
                let narrowTokens = try Self.refreshed(narrow)
                #expect(try await http.introspect(narrowTokens.access).json["scope"] as? String == "mcp:tools")
                let full = try await http.refresh(narrowTokens.refresh, client: client)
                #expect(full.json["scope"] as? String == "mcp:tools email profile")
                let foreign = try await http.refresh(try Self.refreshed(full).refresh, client: stranger)
                #expect(foreign.json["error"] as? String == "invalid_grant")
            }
        }
    }

    @Test("A client registered without refresh_token gets no refresh token; an expired refresh token is invalid_grant")
    func noRefreshAndExpiry() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let codeOnly = try await fixture.client(grantTypes: ["authorization_code"])
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let response = try await http.redeem(try TokenFixture.code(for: codeOnly), client: codeOnly)
                #expect(response.status == .ok && response.json["refresh_token"] == nil)
                let first = try await Self.tokens(http, client)
                try await fixture.client.query("UPDATE tokens.grants SET refresh_expires_at = now() - interval '1 second'")
                #expect(try await http.refresh(first.refresh, client: client).json["error"] as? String == "invalid_grant")
            }
        }
    }

    @Test("Simultaneous refreshes of one token: no 500, one live successor, no fork")
    func parallelRefreshes() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let probe = InFlightProbe()
            try await fixture.application(probe: probe).test(.ahc(.http)) { http in
                let first = try await Self.tokens(http, client)
                let results = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                    for _ in 0..<InFlightProbe.burst { group.addTask { try await http.refresh(first.refresh, client: client) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                // Each is a success, invalid_grant, or (storage slower than its deadline on a starved
                // machine) a 503 with Retry-After.
                #expect(results.allSatisfy { $0.status == .ok || $0.json["error"] as? String == "invalid_grant" || $0.isTemporarilyUnavailable })
                // One grant, not revoked, with exactly one live refresh token: one the clients received.
                let rows = try await fixture.client.query("SELECT refresh_hash, revoked_at IS NULL, refresh_generation FROM tokens.grants")
                var live: [(String, Bool, Int)] = []
                for try await row in rows.decode((String, Bool, Int).self) { live.append(row) }
                #expect(live.count == 1 && live[0].1 && live[0].2 == 2)
                #expect(probe.peak > 1, "the requests overlapped in the server")
                let received = results.compactMap { $0.json["refresh_token"] as? String }
                let head = try #require(received.first { SecretHash.of($0) == live.first?.0 })
                #expect(try await http.refresh(head, client: client).status == .ok)
            }
        }
    }

    @Test("Revocation racing refresh: afterwards no token of the grant is active and nothing refreshes")
    func revokeRacesRefresh() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let probe = InFlightProbe()
            try await fixture.application(probe: probe).test(.ahc(.http)) { http in
                for _ in 0..<10 {
                    let first = try await Self.tokens(http, client)
                    async let refresh = http.refresh(first.refresh, client: client)
                    async let revoke = http.form("/oauth/revoke", [("token", first.refresh), ("token_type_hint", "refresh_token"),
                                                                   ("client_id", client.id)])
                    let (refreshed, revoked) = try await (refresh, revoke)
                    #expect(revoked.status == .ok)
                    #expect(refreshed.status == .ok || refreshed.json["error"] as? String == "invalid_grant")
                    for access in [first.access, refreshed.json["access_token"] as? String].compactMap({ $0 }) {
                        #expect(try await !Self.isActive(http, access))
                    }
                    if let successor = refreshed.json["refresh_token"] as? String {
                        #expect(try await http.refresh(successor, client: client).json["error"] as? String == "invalid_grant")
                    }
                }
                #expect(probe.peak > 1, "refresh and revocation overlapped in the server")
            }
        }
    }
}
