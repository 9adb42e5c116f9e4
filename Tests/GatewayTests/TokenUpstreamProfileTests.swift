import AsyncHTTPClient
import AuthorizationGateway
import Foundation
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import ServiceFixtures
import Testing
import TokenService

/// Userinfo with fresh upstream profiles: the token service asks the gateway, which owns the
/// upstream tokens and refreshes an expired one once for all concurrent callers.
@Suite("Token service: fresh upstream profiles")
struct TokenUpstreamProfileTests {
    typealias A = GatewayAuthorizeTests
    typealias C = GatewayCallbackTests
    static let internalToken = "internal-token-for-the-token-service-0123456789"

    /// Signs a user in through the gateway's real callback (the fake GitHub's tokens expire),
    /// redeems the code at a token service whose tenant asks that gateway for fresh profiles, and
    /// runs `body` with both fixtures, the token service's client (a pool of connections), the
    /// access token and a probe counting the token service's requests in flight.
    static func withFreshProfileLogin(
        _ github: FakeGitHub,
        scope: String,
        _ body: @Sendable (GatewayFixture, TokenFixture, any TestClientProtocol, String, InFlightProbe) async throws -> Void
    )
        async throws
    {
        try await github.run { base in
            try await GatewayFixture.run(internalToken: Self.internalToken) { gateway in
                try await C().tenant(gateway, github: github, base: base)
                let setup = try await C().registerClient(gateway)
                try await gateway.application().test(.live) { gatewayHTTP in
                    let callback = try await C().signIn(
                        gatewayHTTP,
                        clientId: setup.clientId,
                        http: gateway.parts.upstream.http,
                        overriding: ["scope": scope]
                    )
                    let code = try #require(A.location(try await gatewayHTTP.send(callback, host: A.host))?.query["code"])
                    let gatewayURL = "http://127.0.0.1:\(try #require(gatewayHTTP.port))"
                    let configuration = TokenFixture.configuration(gateway: (gatewayURL, OperatorToken(Self.internalToken)))
                    try await TokenFixture.run(configuration: configuration, settings: gateway.settings) { tokens in
                        try await tokens.tenant("acme", freshUpstreamProfile: true)
                        let probe = InFlightProbe()
                        try await tokens.application(probe: probe).test(.ahc(.http)) { http in
                            let redeemed = try await http.form(
                                "/oauth/token",
                                [
                                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", A.redirect),
                                    ("code_verifier", String(repeating: "v", count: 50)), ("client_id", setup.clientId),
                                ]
                            )
                            try await body(gateway, tokens, http, try #require(redeemed.json["access_token"] as? String), probe)
                        }
                    }
                }
            }
        }
    }

    @Test("Simultaneous userinfo calls on an expired upstream token: exactly one upstream refresh; a refused refresh ends our grant")
    func freshProfile() async throws {
        let github = FakeGitHub(expiringTokens: true)
        try await Self.withFreshProfileLogin(github, scope: "mcp:tools email profile") { gateway, tokens, http, access, probe in
            // The user changed their email upstream, and the stored upstream token expired.
            github.setUser(.init(id: 4242, login: "octo", name: "Octo Cat", publicEmail: nil, primaryEmail: "octo@new.example"))
            try await gateway.client.query("UPDATE gateway.upstream_tokens SET expires_at = now() - interval '1 minute'")
            let answers = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
                for _ in 0..<InFlightProbe.burst { group.addTask { try await http.send("/oauth/userinfo", host: "acme.example", token: access) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .ok && $0.json["email"] as? String == "octo@new.example" })
            #expect(probe.peak > 1, "the userinfo calls overlapped in the token service")
            #expect(github.refreshes == 1)
            #expect(github.refreshScopes == ["read:user user:email"])
            #expect(!answers.contains { $0.body.contains("gho_") || $0.body.contains("ghr_") })

            // The user revoked the app upstream: the next refresh is refused, and our grant ends.
            github.revokeRefreshTokens()
            try await gateway.client.query("UPDATE gateway.upstream_tokens SET expires_at = now() - interval '1 minute'")
            let ended = try await http.send("/oauth/userinfo", host: "acme.example", token: access)
            #expect(ended.status == .unauthorized && ended.json["error"] as? String == "invalid_token")
            #expect(try await http.introspect(access).body == #"{"active":false}"#)
            #expect(try await tokens.outboxTypes().last == "token.revoked")
        }
    }

    @Test("An upstream that returns no new refresh token leaves the old one in use; the gateway unreachable is 503")
    func keepsRefreshTokenAndFailsSoft() async throws {
        let github = FakeGitHub(expiringTokens: true, rotatesRefreshTokens: false)
        try await Self.withFreshProfileLogin(github, scope: "mcp:tools email") { gateway, _, http, access, _ in
            for round in 1...2 {
                try await gateway.client.query("UPDATE gateway.upstream_tokens SET expires_at = now() - interval '1 minute'")
                let info = try await http.send("/oauth/userinfo", host: "acme.example", token: access)
                #expect(info.status == .ok && info.json["email"] as? String == "octo@example.org", "round \(round)")
            }
            #expect(github.refreshes == 2, "the second refresh used the refresh token kept from the login")
        }
        // The gateway unreachable: 503, and the grant stays.
        let closed = "http://127.0.0.1:\(try freeTCPPort())"
        try await TokenFixture.run(
            configuration: TokenFixture.configuration(gateway: (closed, OperatorToken(Self.internalToken))),
            settings: try await TestEnvironment.shared.postgresAndBroker().0.makeDatabase(named: "tokens")
        ) { tokens in
            try await tokens.tenant("acme", freshUpstreamProfile: true)
            let client = try await tokens.client()
            try await tokens.application().test(.live) { http in
                let access = try #require(try await http.redeem(try TokenFixture.code(for: client), client: client).json["access_token"] as? String)
                let info = try await http.send("/oauth/userinfo", host: "acme.example", token: access)
                #expect(info.status == .serviceUnavailable && info.headers[.retryAfter] != nil)
                #expect(try await http.introspect(access).json["active"] as? Bool == true)
            }
        }
    }

    @Test("The gateway's internal route needs the internal token")
    func internalRouteIsProtected() async throws {
        try await GatewayFixture.run(internalToken: Self.internalToken) { gateway in
            try await gateway.application().test(.live) { http in
                let anonymous = try await http.send("/internal/upstream-profile", method: .post, json: #"{"tenant":"acme","user_id":"usr_x"}"#)
                #expect(anonymous.status == .unauthorized)
                let wrong = try await http.send(
                    "/internal/upstream-profile",
                    method: .post,
                    json: #"{"tenant":"acme","user_id":"usr_x"}"#,
                    token: "not-the-internal-token-0123456789abcdef"
                )
                #expect(wrong.status == .unauthorized)
                let unknown = try await http.send(
                    "/internal/upstream-profile",
                    method: .post,
                    json: #"{"tenant":"acme","user_id":"usr_x"}"#,
                    token: Self.internalToken
                )
                #expect(unknown.status == .notFound)
            }
        }
    }
}
