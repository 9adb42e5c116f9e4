import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import PostgresNIO
import ServiceFixtures
import Testing
import TokenService

/// Refresh token rotation against real PostgreSQL: the grace window, reuse detection, scope
/// narrowing, and the races (parallel refreshes, revocation against refresh).
@Suite("Token service: refresh rotation")
struct TokenRefreshTests {
    static func refreshed(_ result: HTTPResult) throws -> (access: String, refresh: String) {
        #expect(result.status == .ok, "\(result.body)")
        return (try #require(result.json["access_token"] as? String), try #require(result.json["refresh_token"] as? String))
    }

    static func isActive(_ http: some TestClientProtocol, _ access: String) async throws -> Bool {
        try await http.introspect(access).json["active"] as? Bool == true
    }

    @Test("Every refresh rotates; the previous token yields the same successor again only in the grace window and until that is used")
    func rotationAndGrace() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client(method: "client_secret_basic")
            try await fixture.application().test(.live) { http in
                let first = try await http.tokens(client)
                let second = try Self.refreshed(try await http.refresh(first.refresh, client: client))
                #expect(second.refresh != first.refresh && second.access != first.access)
                // The response was lost: the client retries with the old token, inside the grace window,
                // and receives the same successor with an access token of its own.
                let retry = try Self.refreshed(try await http.refresh(first.refresh, client: client))
                #expect(retry.refresh == second.refresh && retry.access != second.access)
                #expect(try await Self.isActive(http, second.access))
                #expect(try await Self.isActive(http, retry.access))
                // The successor is used: from then on the old token is reuse.
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

    @Test("A client profile can shorten or lengthen the grace window of one client")
    func graceByProfile() async throws {
        try await TokenFixture.run(configuration: TokenFixture.configuration(grace: .zero)) { fixture in
            try await fixture.tenant("acme")
            let lateRetrier = try await fixture.client()
            let other = try await fixture.client()
            try await fixture.tenant(
                "acme",
                version: 2,
                clientProfiles: ClientProfiles(overrides: [
                    ClientProfileOverride(clientId: lateRetrier.id, profile: ClientProfile(refreshGraceSeconds: 120))
                ])
            )
            try await fixture.application().test(.live) { http in
                let first = try await http.tokens(lateRetrier)
                let second = try Self.refreshed(try await http.refresh(first.refresh, client: lateRetrier))
                #expect(try Self.refreshed(try await http.refresh(first.refresh, client: lateRetrier)).refresh == second.refresh)
                let theirs = try await http.tokens(other)
                _ = try Self.refreshed(try await http.refresh(theirs.refresh, client: other))
                #expect(
                    try await http.refresh(theirs.refresh, client: other).json["error"] as? String == "invalid_grant",
                    "the service's window: none"
                )
            }
        }
    }

    @Test("Outside the grace window the previous token is reuse at once")
    func noGrace() async throws {
        try await TokenFixture.run(configuration: TokenFixture.configuration(grace: .zero)) { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let first = try await http.tokens(client)
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
                let first = try await http.tokens(client)
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
                let first = try await http.tokens(client)
                try await fixture.client.query("UPDATE tokens.grants SET refresh_expires_at = now() - interval '1 second'")
                #expect(try await http.refresh(first.refresh, client: client).json["error"] as? String == "invalid_grant")
            }
        }
    }

    /// `width` refreshes of `token` at once, each on a connection of its own (so that none waits
    /// in a client's queue): every answer, a 503 (storage past its deadline on a starved
    /// machine) tried again as a client would.
    static func burst(port: Int, _ token: String, client: TokenFixture.Client, width: Int) async throws -> [HTTPResult] {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: width)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let body = FormBody.encode([("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", client.id)])
        @Sendable func send() async throws -> HTTPResult {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/oauth/token")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "X-Forwarded-Host", value: "acme.example")
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await http.execute(request, timeout: .seconds(60))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
            var headers = HTTPFields()
            for header in response.headers { headers.append(HTTPField(name: HTTPField.Name(header.name)!, value: header.value)) }
            return HTTPResult(status: .init(code: Int(response.status.code)), headers: headers, body: text)
        }
        @Sendable func refresh() async throws -> HTTPResult {
            var result = try await send()
            for _ in 0..<5 where result.isTemporarilyUnavailable { result = try await send() }
            return result
        }
        do {
            let results = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                for _ in 0..<width { group.addTask { try await refresh() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try await http.shutdown()
            return results
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    @Test(
        "Simultaneous refreshes of one token all receive the same successor, and so do their next refreshes; the grant survives",
        arguments: [2, 20, 50]
    )
    func parallelRefreshes(width: Int) async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let probe = InFlightProbe()
            try await fixture.application(probe: probe).test(.live) { http in
                let first = try await http.tokens(client)
                let port = try #require(http.port)
                let round1 = try await Self.burst(port: port, first.refresh, client: client, width: width)
                let received1 = try round1.map { try Self.refreshed($0) }
                #expect(Set(received1.map(\.refresh)).count == 1, "one successor for every presentation")
                #expect(Set(received1.map(\.access)).count == width, "an access token each")
                for access in received1.map(\.access) { #expect(try await Self.isActive(http, access)) }

                // Every client refreshes again with what it received: again one successor for all.
                let round2 = try await Self.burst(port: port, received1[0].refresh, client: client, width: width)
                let received2 = try round2.map { try Self.refreshed($0) }
                #expect(Set(received2.map(\.refresh)).count == 1 && received2[0].refresh != received1[0].refresh)

                let rows = try await fixture.client.query("SELECT refresh_hash, revoked_at IS NULL, refresh_generation FROM tokens.grants")
                var grants: [(String, Bool, Int)] = []
                for try await row in rows.decode((String, Bool, Int).self) { grants.append(row) }
                #expect(grants.count == 1 && grants[0].1 && grants[0].2 == 3, "one live grant at generation 3")
                #expect(grants.first?.0 == SecretHash.of(received2[0].refresh))
                #expect(probe.peak > 1, "the requests overlapped in the server")

                // The grant works on; a token two generations old still revokes the family.
                let third = try Self.refreshed(try await http.refresh(received2[0].refresh, client: client))
                #expect(try await http.refresh(first.refresh, client: client).json["error"] as? String == "invalid_grant")
                #expect(try await http.refresh(third.refresh, client: client).json["error"] as? String == "invalid_grant")
                #expect(try await !Self.isActive(http, third.access))
            }
        }
    }

    @Test("A key rotation of the ring inside the grace window still yields the same successor")
    func successorAcrossKeyRotation() async throws {
        let database = try await TestEnvironment.shared.postgresAndBroker().0.makeDatabase(named: "tokens")
        let (first, second, client) = try await TokenFixture.run(settings: database) { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            return try await fixture.application().test(.live) { http in
                let first = try await http.tokens(client)
                return (first, try Self.refreshed(try await http.refresh(first.refresh, client: client)), client)
            }
        }
        var rotated = TokenFixture.configuration()
        rotated.keyRing = try KeyRing(keys: ["k1": Array(repeating: 7, count: 32), "k2": Array(repeating: 9, count: 32)], current: "k2")
        try await TokenFixture.run(configuration: rotated, settings: database) { fixture in
            try await fixture.application().test(.live) { http in
                #expect(try Self.refreshed(try await http.refresh(first.refresh, client: client)).refresh == second.refresh)
                let third = try Self.refreshed(try await http.refresh(second.refresh, client: client))
                #expect(try Self.refreshed(try await http.refresh(second.refresh, client: client)).refresh == third.refresh)
            }
        }
    }

    @Test("Oversized parameters are invalid_request, refused before any lookup", arguments: ["refresh_token", "client_id", "scope"])
    func oversizedParameters(_ parameter: String) async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let first = try await http.tokens(client)
                var fields = ["grant_type": "refresh_token", "refresh_token": first.refresh, "client_id": client.id]
                fields[parameter] = String(repeating: "a", count: 5000)
                let answer = try await http.form("/oauth/token", fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
                #expect(answer.status == .badRequest && answer.json["error"] as? String == "invalid_request", "\(answer.body)")
                #expect((answer.json["error_description"] as? String)?.contains(parameter) == true)
            }
        }
    }

    @Test("A refresh naming another resource is invalid_target (RFC 8707 §2.2); naming the grant's own is fine")
    func refreshResource() async throws {
        try await TokenFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            try await fixture.application().test(.live) { http in
                let first = try await http.tokens(client)
                let foreign = try await http.refresh(first.refresh, client: client, extra: [("resource", "https://evil.example/mcp")])
                #expect(foreign.status == .badRequest && foreign.json["error"] as? String == "invalid_target")
                let own = try await http.refresh(first.refresh, client: client, extra: [("resource", "https://acme.example/mcp")])
                #expect(own.status == .ok)
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
                    let first = try await http.tokens(client)
                    async let refresh = http.refresh(first.refresh, client: client)
                    async let revoke = http.form(
                        "/oauth/revoke",
                        [
                            ("token", first.refresh), ("token_type_hint", "refresh_token"),
                            ("client_id", client.id),
                        ]
                    )
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
