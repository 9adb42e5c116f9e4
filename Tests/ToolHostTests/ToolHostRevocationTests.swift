import Foundation
import GatehouseKafka
import GatehouseMessaging
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MCPToolHost
import ServiceFixtures
import Testing
import TokenService

/// Revocation reaches the tool host's cache, and a token service that cannot answer is a 503.
@Suite("Tool host: revocation and outages")
struct ToolHostRevocationTests {
    /// Calls `whoami` until it is refused or `limit` has passed; returns how long after `start`
    /// that was.
    static func refusedAfter(
        _ http: some TestClientProtocol,
        token: String,
        since start: ContinuousClock.Instant,
        limit: Duration
    ) async throws -> Duration {
        while ContinuousClock.now - start < limit {
            let response = try await http.callTool("whoami", token: token)
            if response.status == .unauthorized { return ContinuousClock.now - start }
            #expect(response.status == .ok)
            try await Task.sleep(for: .milliseconds(25))
        }
        return limit
    }

    @Test("token.revoked through the broker empties the cache: a revoked token stops working long before its cached answer would age out")
    func revokedThroughTheBroker() async throws {
        let (_, broker) = try await TestEnvironment.shared.postgresAndBroker()
        // Only the event can evict: young answers are trusted for a minute here.
        let cache = ToolHostConfiguration.Cache(activeFor: .seconds(300), revocationBound: .seconds(60))
        try await ToolHostFixture.run(cache: cache) { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.tokens.client()
            let token = try await fixture.accessToken(client: client)
            let other = try await fixture.accessToken(client: client)
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: broker.clientOptions), logger: fixture.tokens.logger)
            let relay = OutboxRelay(
                client: fixture.tokens.client,
                settings: fixture.tokens.settings,
                schema: fixture.tokens.schema,
                producer: producer,
                logger: fixture.tokens.logger
            )
            let feed = RevocationFeed(kafka: broker.clientOptions, validator: fixture.parts.validator, logger: fixture.tokens.logger)
            try await withServices([producer, relay, feed]) {
                try await eventually("the revocation feed is current", timeout: .seconds(20)) { fixture.parts.validator.revocationFeedIsCurrent }
                try await fixture.application().test(.live) { http in
                    #expect(try await http.callTool("whoami", token: token).status == .ok)
                    #expect(try await http.callTool("whoami", token: other).status == .ok)
                    let start = ContinuousClock.now
                    let revoked = try await fixture.tokenHTTP.form("/oauth/revoke", [("token", token), ("client_id", client.id)])
                    #expect(revoked.status == .ok)
                    // Answers are trusted for a minute here, so only the event can have evicted it. (The
                    // 2 s guarantee itself does not rest on the broker: see the test below.)
                    // However slow the machine, a refusal well inside that minute is the event's doing.
                    let elapsed = try await Self.refusedAfter(http, token: token, since: start, limit: .seconds(45))
                    #expect(elapsed < .seconds(45), "refused after \(elapsed)")
                    // Only the revoked token: its sibling of another grant still works.
                    #expect(try await http.callTool("whoami", token: other).status == .ok)
                }
            }
        }
    }

    @Test("Without the broker no cached answer outlives the revocation bound: a request 1.6 s after the revocation is refused")
    func revokedWithoutTheBroker() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let client = try await fixture.tokens.client()
            let token = try await fixture.accessToken(client: client)
            #expect(ToolHostConfiguration.Cache().revocationBound == .milliseconds(1500))
            try await fixture.application().test(.live) { http in
                #expect(try await http.callTool("whoami", token: token).status == .ok)
                #expect(!fixture.parts.validator.revocationFeedIsCurrent)
                #expect(try await fixture.tokenHTTP.form("/oauth/revoke", [("token", token), ("client_id", client.id)]).status == .ok)
                // Whatever the machine's load, a request made after the bound is judged afresh:
                // revocations take effect within 1.5 s plus the request's own time, under 2 s.
                try await Task.sleep(until: ContinuousClock.now + .milliseconds(1600))
                let refused = try await http.callTool("whoami", token: token)
                #expect(refused.status == .unauthorized)
                #expect(refused.challenge.contains(#"error="invalid_token""#))
            }
        }
    }

    @Test("Token service stopped: 503 with Retry-After for a token it must be asked about, never 401 or 500")
    func tokenServiceStopped() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let unchecked = try await fixture.accessToken()
            // A second token service on its own port, stopped while the tool host still points at it.
            let port = try await fixture.tokens.application().test(.live) { http in http.port! }
            let configuration = ToolHostFixture.configuration(tokenServicePort: port)
            let parts = ToolHostService.Parts(
                postgres: fixture.tokens.client,
                logger: fixture.tokens.logger,
                configuration: configuration,
                directoryMaximumAge: .zero
            )
            let router = Router(context: GatehouseRequestContext.self)
            ToolHostService.addRoutes(to: router, parts: parts, configuration: configuration)
            do {
                try await Application(router: router).test(.live) { http in
                    let response = try await http.callTool("whoami", token: unchecked)
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] != nil)
                    #expect(response.json["error"] as? String == "temporarily_unavailable")
                    #expect(!response.body.contains(unchecked))
                }
                try await parts.shutdown()
            } catch {
                try? await parts.shutdown()
                throw error
            }
        }
    }
}
