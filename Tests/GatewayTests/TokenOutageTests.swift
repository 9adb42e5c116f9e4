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
import PostgresNIO
import ServiceFixtures
import Testing
import TokenService

/// Outages: ours are 503 with Retry-After, never a reason for a client to drop its tokens; and
/// a login never waits on the broker (docs/design.md invariants 3 and 4).
@Suite("Token service: outages")
struct TokenOutageTests {

    @Test("Database stopped: 503 temporarily_unavailable with Retry-After; after restart the same refresh token works")
    func databaseDown() async throws {
        let cluster = try await TestPostgres.make()
        try await TokenFixture.run(settings: try await cluster.makeDatabase(named: "tokens", maximumConnections: 20)) { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.client()
            let pendingCode = try TokenFixture.code(for: client)
            try await fixture.application().test(.live) { http in
                let tokens = try await http.tokens(client)
                try await cluster.stop()
                for response in [
                    try await http.refresh(tokens.refresh, client: client), try await http.redeem(pendingCode, client: client),
                    try await http.introspect(tokens.access),
                ] {
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.json["error"] as? String == "temporarily_unavailable")
                    #expect(response.headers[.retryAfter] != nil)
                }
                try await cluster.start()
                try await eventually("the service answers again") {
                    try await http.introspect(tokens.access).status == .ok
                }
                #expect(try await http.refresh(tokens.refresh, client: client).status == .ok)
                #expect(try await http.redeem(pendingCode, client: client).status == .ok)
            }
        }
    }

    @Test("A code from the gateway's callback is redeemed while the broker is down; the events catch up when it is back")
    func brokerDown() async throws {
        let github = FakeGitHub()
        let broker = try await TestBroker()
        typealias C = GatewayCallbackTests
        try await github.run { base in
            try await GatewayFixture.run { gateway in
                try await TokenFixture.run(settings: gateway.settings) { tokens in
                    let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: broker.clientOptions), logger: gateway.logger)
                    let relay = OutboxRelay(
                        client: gateway.client,
                        settings: gateway.settings,
                        schema: gateway.schema,
                        producer: producer,
                        logger: gateway.logger
                    )
                    var options = EventConsumer.Options()
                    options.maximumBackoff = .milliseconds(500)
                    let consumer = EventConsumer(
                        handler: TokenProjections(schema: tokens.schema),
                        client: tokens.client,
                        schema: tokens.schema,
                        kafka: broker.clientOptions,
                        deadLetters: producer,
                        options: options,
                        logger: tokens.logger
                    )
                    try await withServices([producer, relay, consumer]) {
                        // The tenant reaches the token service through the broker, as in production.
                        try await C().tenant(gateway, github: github, base: base)
                        try await eventually("the tenant projected") { try await tokens.count("tenants") == 1 }
                        try await broker.setUp(false)

                        let setup = try await C().registerClient(gateway)
                        try await gateway.application().test(.live) { gatewayHTTP in
                            let done = try await gatewayHTTP.send(
                                try await C().signIn(gatewayHTTP, clientId: setup.clientId, http: gateway.parts.upstream.http),
                                host: GatewayAuthorizeTests.host
                            )
                            let code = try #require(GatewayAuthorizeTests.location(done)?.query["code"])
                            try await tokens.application().test(.live) { tokenHTTP in
                                let redeemed = try await tokenHTTP.form(
                                    "/oauth/token",
                                    [
                                        ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", GatewayAuthorizeTests.redirect),
                                        ("code_verifier", String(repeating: "v", count: 50)), ("client_id", setup.clientId),
                                    ]
                                )
                                #expect(redeemed.status == .ok, "\(redeemed.body)")
                                #expect(try await tokens.count("clients") == 0)
                            }
                        }
                        try await broker.setUp(true)
                        try await eventually("client.registered and code.issued catch up") {
                            let clients = try await tokens.count("clients")
                            let ledger = try await tokens.count("code_ledger")
                            return clients == 1 && ledger == 1
                        }
                    }
                }
            }
        }
    }
}
