import AsyncHTTPClient
import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import PostgresNIO
import ServiceFixtures
import Testing
import UserProvisioning

/// The whole browser leg against a GitHub-style upstream speaking real HTTP on loopback:
/// authorize → consent → upstream → callback → a sealed code for the client, with the login
/// stored and announced in one transaction; and the failures that must write nothing.
@Suite("Gateway: upstream login and callback")
struct GatewayCallbackTests {
    typealias A = GatewayAuthorizeTests

    func tenant(_ fixture: GatewayFixture, github: FakeGitHub, base: String, tokenEndpoint: String? = nil) async throws {
        try await fixture.parts.tenants.create(
            TenantInput(
                id: "acme",
                displayName: "Acme",
                hosts: ["acme.example"],
                authMode: .oauth,
                emailLinking: "verified_email",
                upstream: .init(
                    kind: .oauth2,
                    authorizationEndpoint: "\(base)/login/oauth/authorize",
                    tokenEndpoint: tokenEndpoint ?? "\(base)/login/oauth/access_token",
                    userEndpoint: "\(base)/user",
                    emailsEndpoint: "\(base)/user/emails",
                    clientId: github.clientId,
                    claims: .init(subject: "id")
                ),
                clientSecret: github.clientSecret
            )
        )
    }

    /// A public native client of acme.
    func registerClient(_ fixture: GatewayFixture) async throws -> (clientId: String, secret: String?, issuedAt: Date) {
        try await fixture.parts.clients.register(
            ClientMetadata(
                redirectUris: [A.redirect],
                tokenEndpointAuthMethod: "none",
                grantTypes: ["authorization_code"],
                responseTypes: ["code"],
                applicationType: "native",
                clientName: "Desktop"
            ),
            tenant: "acme",
            from: nil,
            unusedLifetime: .seconds(3600)
        )
    }

    /// Authorize, approve, follow the upstream's redirect: the callback request's path and query,
    /// and the browser's session cookie it must come back with.
    func signIn(
        _ client: some TestClientProtocol,
        clientId: String,
        http: HTTPClient,
        overriding changes: [String: String?] = [:]
    ) async throws -> BrowserCallback {
        let page = try await client.send(A.valid(clientId, overriding: changes), host: A.host)
        let form = try #require(A.form(page.body))
        let approved = try await client.send(
            "/oauth/consent",
            method: .post,
            host: A.host,
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: A.cookie(page)!],
            json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
        )
        let upstreamURL = try #require(approved.headers[.location])
        let response = try await http.execute(HTTPClientRequest(url: upstreamURL), timeout: .seconds(10))
        #expect(response.status.code == 302)
        let back = try #require(response.headers.first(name: "Location"))
        #expect(back.hasPrefix("https://acme.example/oauth/callback?"))
        return BrowserCallback(path: String(back.dropFirst("https://acme.example".count)), cookie: A.cookie(page)!)
    }

    func outbox(_ fixture: GatewayFixture) async throws -> [String] {
        let rows = try await fixture.client.query("SELECT envelope FROM gateway.outbox ORDER BY id")
        var envelopes: [String] = []
        for try await text in rows.decode(String.self) { envelopes.append(text) }
        return envelopes
    }

    @Test("A complete login: the client gets a sealed code with state and iss; identity and code announced, upstream tokens sealed")
    func completeLogin() async throws {
        let github = FakeGitHub()
        try await github.run { base in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, github: github, base: base)
                let setup = try await registerClient(fixture)
                let before = try await fixture.count("clients")
                try await fixture.application().test(.live) { client in
                    let callback = try await signIn(client, clientId: setup.clientId, http: fixture.parts.upstream.http)
                    let done = try await client.send(callback, host: A.host)
                    #expect(done.status == .seeOther)
                    let back = try #require(A.location(done))
                    #expect(back.base == A.redirect)
                    #expect(back.query["state"] == A.state)
                    #expect(back.query["iss"] == A.issuer)
                    let code = try #require(back.query["code"])
                    #expect(code.hasPrefix("mcp_code_"))

                    let binding = try SealedCode.open(code, tenant: "acme", keyRing: fixture.configuration.keyRing)
                    let userId = UserID.derive(tenant: "acme", issuer: base, subject: "4242")
                    #expect(binding.userId == userId)
                    #expect(binding.clientId == setup.clientId && binding.redirectUri == A.redirect)
                    #expect(binding.codeChallenge == A.challenge && binding.resource == "https://acme.example/mcp")
                    #expect(binding.scopes == ["mcp:tools"])
                    #expect(binding.identity.email == "octo@example.org" && binding.identity.emailVerified, "primary verified email")
                    #expect(binding.identity.name == "Octo Cat")
                    #expect(binding.expiresAt.timeIntervalSince(binding.issuedAt) <= 60)

                    let envelopes = try await outbox(fixture)
                    let events = try envelopes.map { try EventCodec.header(of: Array($0.utf8)) }
                    #expect(events.map(\.type).suffix(2) == ["upstream-token.stored", "code.issued"])
                    let stored = try EventCodec.decode(UpstreamTokenStored.self, from: Array(envelopes[envelopes.count - 2].utf8))
                    #expect(stored.payload.userId == userId && stored.header.aggregateKey == userId && stored.header.aggregateVersion == 1)
                    #expect(stored.payload.email == "octo@example.org" && stored.payload.emailVerified)
                    #expect(stored.payload.emailLinking == .verifiedEmail)
                    let issued = try EventCodec.decode(CodeIssued.self, from: Array(envelopes.last!.utf8))
                    #expect(issued.payload.codeHash == SealedCode.hash(code))
                    for envelope in envelopes {
                        #expect(!envelope.contains(code) && !envelope.contains("gho_") && !envelope.contains(github.clientSecret))
                    }
                    let tokens = try await fixture.client.query("SELECT access_token FROM gateway.upstream_tokens")
                    for try await sealed in tokens.decode(String.self) { #expect(!sealed.contains("gho_") && KeyRing.keyID(of: sealed) == "k1") }
                    #expect(try await fixture.count("identities") == 1)

                    // The same callback again: the state is spent; nothing more happens upstream or here.
                    let exchanges = github.exchanges
                    let again = try await client.send(callback, host: A.host)
                    #expect(again.status == .badRequest && again.headers[.location] == nil)
                    #expect(github.exchanges == exchanges)
                    #expect(try await outbox(fixture).count == envelopes.count)

                    // A second login of the same person: same user id, version 2.
                    let second = try await client.send(
                        try await signIn(client, clientId: setup.clientId, http: fixture.parts.upstream.http),
                        host: A.host
                    )
                    let secondCode = try #require(A.location(second)?.query["code"])
                    #expect(try SealedCode.open(secondCode, tenant: "acme", keyRing: fixture.configuration.keyRing).userId == userId)
                    let last = try await outbox(fixture)
                    let secondStored = try EventCodec.decode(UpstreamTokenStored.self, from: Array(last[last.count - 2].utf8))
                    #expect(secondStored.header.aggregateVersion == 2)
                }
                #expect(try await fixture.count("clients") == before)
            }
        }
    }

    /// One browser's authorize → (consent, if asked) → upstream → callback. Returns the browser's
    /// session cookie and whether the consent page was shown.
    func login(
        _ http: some TestClientProtocol,
        fixture: GatewayFixture,
        clientId: String,
        cookie: String?,
        scope: String = "mcp:tools"
    ) async throws -> (cookie: String, asked: Bool) {
        let headers: HTTPFields = cookie.map { [.cookie: $0] } ?? [:]
        let first = try await http.send(A.valid(clientId, overriding: ["scope": scope]), host: A.host, headers: headers)
        let session = try #require(A.cookie(first) ?? cookie)
        var upstreamURL = first.headers[.location]
        if first.status == .ok {
            let form = try #require(A.form(first.body))
            let approved = try await http.send(
                "/oauth/consent",
                method: .post,
                host: A.host,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: session],
                json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
            )
            upstreamURL = approved.headers[.location]
        }
        let upstream = try await fixture.parts.upstream.http.execute(HTTPClientRequest(url: try #require(upstreamURL)), timeout: .seconds(10))
        let back = try #require(upstream.headers.first(name: "Location"))
        let done = try await http.send(String(back.dropFirst("https://acme.example".count)), host: A.host, headers: [.cookie: session])
        #expect(A.location(done)?.query["code"] != nil)
        return (session, first.status == .ok)
    }

    @Test("Consent is remembered by the user after login: approvals follow them to another browser, not to strangers")
    func consentByUser() async throws {
        let github = FakeGitHub()
        try await github.run { base in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, github: github, base: base)
                let x = try await registerClient(fixture).clientId
                let y = try await registerClient(fixture).clientId
                try await fixture.application().test(.live) { http in
                    let browserA = try await login(http, fixture: fixture, clientId: x, cookie: nil)
                    #expect(browserA.asked)
                    #expect(try await !login(http, fixture: fixture, clientId: x, cookie: browserA.cookie).asked, "the session remembers")

                    // Browser B is a stranger until its first login says it is the same user.
                    let browserB = try await login(http, fixture: fixture, clientId: y, cookie: nil)
                    #expect(browserB.asked)
                    #expect(try await !login(http, fixture: fixture, clientId: x, cookie: browserB.cookie).asked, "the user approved x in A")
                    // A wider scope asks again; a browser nobody logged in with is asked.
                    #expect(try await login(http, fixture: fixture, clientId: x, cookie: browserB.cookie, scope: "mcp:tools email").asked)
                    let stranger = try await http.send(A.valid(x), host: A.host)
                    #expect(stranger.status == .ok && A.form(stranger.body) != nil)
                }
                #expect(try await fixture.count("user_consents") == 2)
                #expect(try await fixture.count("session_users") == 2)
            }
        }
    }

    @Test("The login reaches the provisioning service through the outbox and Kafka: its user row has the code's user id")
    func loginProvisionsTheUser() async throws {
        let github = FakeGitHub()
        let (_, broker) = try await TestEnvironment.shared.postgresAndBroker()
        try await github.run { base in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, github: github, base: base)
                let setup = try await registerClient(fixture)
                let provisioning = try SchemaName("provisioning")
                try await ProvisioningService.definition.migrator.migrate(client: fixture.client, logger: fixture.logger)
                let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: broker.clientOptions), logger: fixture.logger)
                let relay = OutboxRelay(
                    client: fixture.client,
                    settings: fixture.settings,
                    schema: fixture.schema,
                    producer: producer,
                    logger: fixture.logger
                )
                var options = EventConsumer.Options()
                options.deadLetterTopic = "dead-letter-\(UUID().uuidString.prefix(8).lowercased())"
                let consumer = EventConsumer(
                    handler: ProvisioningHandler(schema: provisioning, consumerName: "provisioning-\(UUID().uuidString.prefix(8).lowercased())"),
                    client: fixture.client,
                    schema: provisioning,
                    kafka: broker.clientOptions,
                    deadLetters: producer,
                    options: options,
                    logger: fixture.logger
                )
                try await withServices([producer, relay, consumer]) {
                    try await fixture.application().test(.live) { client in
                        let done = try await client.send(
                            try await signIn(client, clientId: setup.clientId, http: fixture.parts.upstream.http),
                            host: A.host
                        )
                        let code = try #require(A.location(done)?.query["code"])
                        let userId = try SealedCode.open(code, tenant: "acme", keyRing: fixture.configuration.keyRing).userId
                        try await eventually("the user provisioned from the gateway's event") {
                            let rows = try await fixture.client.query(
                                "SELECT email FROM provisioning.users WHERE user_id = \(userId) AND tenant = 'acme'"
                            )
                            for try await email in rows.decode(String?.self) { return email == "octo@example.org" }
                            return false
                        }
                    }
                }
            }
        }
    }

    @Test(
        "Failures write nothing and tell the client with state and iss",
        arguments: ["upstream denies", "upstream down", "wrong secret", "token endpoint answers no JSON"]
    )
    func failures(_ failure: String) async throws {
        let github = FakeGitHub()
        try await github.run { base in
            try await GatewayFixture.run { fixture in
                // Port 1 (tcpmux) listens nowhere here: a port found free a moment ago could be
                // taken by another suite's server by the time the gateway connects.
                let closedPort = 1
                try await tenant(
                    fixture,
                    github: github,
                    base: base,
                    tokenEndpoint: failure == "upstream down"
                        ? "http://127.0.0.1:\(closedPort)/token"
                        : failure == "token endpoint answers no JSON" ? "\(base)/no-such-endpoint" : nil
                )
                if failure == "wrong secret" {
                    _ = try await fixture.parts.tenants.update("acme", with: TenantInput(clientSecret: "not-the-secret"))
                }
                github.setDenying(failure == "upstream denies")
                let setup = try await registerClient(fixture)
                let eventsBefore = try await fixture.count("outbox")
                try await fixture.application().test(.live) { client in
                    let callback = try await signIn(client, clientId: setup.clientId, http: fixture.parts.upstream.http)
                    let done = try await client.send(callback, host: A.host)
                    #expect(done.status == .seeOther)
                    let back = try #require(A.location(done))
                    #expect(back.base == A.redirect)
                    #expect(back.query["code"] == nil)
                    let outage = ["upstream down", "token endpoint answers no JSON"].contains(failure)
                    #expect(back.query["error"] == (outage ? "temporarily_unavailable" : "access_denied"), "\(failure)")
                    #expect(back.query["state"] == A.state && back.query["iss"] == A.issuer)
                }
                #expect(try await fixture.count("outbox") == eventsBefore)
                #expect(try await fixture.count("identities") == 0)
                #expect(try await fixture.count("upstream_tokens") == 0)
            }
        }
    }

    @Test("A callback arriving in a browser without the session that started the sign-in is refused, and the sign-in stays open")
    func callbackBoundToBrowser() async throws {
        let github = FakeGitHub()
        try await github.run { base in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, github: github, base: base)
                let setup = try await registerClient(fixture)
                try await fixture.application().test(.live) { client in
                    let callback = try await signIn(client, clientId: setup.clientId, http: fixture.parts.upstream.http)
                    let exchanges = github.exchanges
                    let stranger = "\(AuthorizeRoutes.sessionCookie)=\(SecretGenerator.generate(prefix: "", bytes: 32))"
                    for headers: HTTPFields in [[:], [.cookie: stranger]] {
                        let refused = try await client.send(callback.path, host: A.host, headers: headers)
                        #expect(refused.status == .badRequest && refused.headers[.location] == nil)
                        #expect(refused.headers[.contentType]?.hasPrefix("text/html") == true)
                    }
                    #expect(github.exchanges == exchanges, "the upstream code was not redeemed")
                    #expect(try await outbox(fixture).allSatisfy { !$0.contains("code.issued") })
                    // The browser that started it still finishes it.
                    let done = try await client.send(callback, host: A.host)
                    #expect(done.status == .seeOther && A.location(done)?.query["code"] != nil)
                }
            }
        }
    }

    @Test("A callback with an unknown state, or at another tenant, is refused on our page")
    func unknownState() async throws {
        let github = FakeGitHub()
        try await github.run { base in
            try await GatewayFixture.run { fixture in
                try await tenant(fixture, github: github, base: base)
                try await fixture.tenant("globex")
                let setup = try await registerClient(fixture)
                try await fixture.application().test(.live) { client in
                    #expect(try await client.send("/oauth/callback?code=x&state=forged", host: A.host).status == .badRequest)
                    #expect(try await client.send("/oauth/callback?code=x", host: A.host).status == .badRequest)
                    let callback = try await signIn(client, clientId: setup.clientId, http: fixture.parts.upstream.http)
                    let elsewhere = try await client.send(callback, host: "globex.example")
                    #expect(elsewhere.status == .badRequest && elsewhere.headers[.location] == nil)
                    // Still usable at its own tenant.
                    #expect(try await client.send(callback, host: A.host).status == .seeOther)
                }
            }
        }
    }
}

/// Where the upstream sent the browser back, and the session cookie that browser holds.
struct BrowserCallback: Sendable {
    var path: String
    var cookie: String
}

extension TestClientProtocol {
    /// The browser following the upstream's redirect back to the callback, with its cookie.
    func send(_ callback: BrowserCallback, host: String) async throws -> HTTPResult {
        try await send(callback.path, host: host, headers: [.cookie: callback.cookie])
    }
}
