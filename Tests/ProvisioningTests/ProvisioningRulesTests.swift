import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseTestSupport
import PostgresNIO
import ServiceFixtures
import Testing

@testable import UserProvisioning

/// The provisioning consumer's rules, one at a time, against a real PostgreSQL through the
/// inbox (docs/design.md invariants 1 and 2).
@Suite("User provisioning rules")
struct ProvisioningRulesTests {
    typealias E = ProvisioningEvents

    @Test("User ids are derived from (tenant, issuer, subject), stable, distinct and well-formed")
    func userIdDerivation() {
        let id = UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "42")
        #expect(id == UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "42"))
        #expect(id.hasPrefix("usr_") && id.count == 30 && UserID.isWellFormed(id))
        // Each part matters, and parts cannot be shifted into each other.
        #expect(id != UserID.derive(tenant: "acme2", issuer: "https://idp.example", subject: "42"))
        #expect(id != UserID.derive(tenant: "acme", issuer: "https://idp.example/", subject: "42"))
        #expect(id != UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: "43"))
        #expect(UserID.derive(tenant: "ab", issuer: "c", subject: "d") != UserID.derive(tenant: "a", issuer: "bc", subject: "d"))
        for bad in ["usr_", "usr_AAAAAAAAAAAAAAAAAAAAAAAAAA", "user_aaaaaaaaaaaaaaaaaaaaaaaaaa", "usr_aaaaaaaaaaaaaaaaaaaaaaaaa1", "anonymous"] {
            #expect(!UserID.isWellFormed(bad), "\(bad)")
        }
    }

    @Test("A duplicate event id takes effect once, in separate deliveries and within one batch")
    func duplicateEventIds() async throws {
        try await ProvisioningFixture.run { fixture in
            let login = E.login(tenant: "t", subject: "s1", version: 1, email: "a@example.org", at: 0)
            let call = E.toolCall(tenant: "t", userId: E.userId("t", "s1"), at: 1)
            #expect(try await fixture.apply([login, call]) == 2)
            #expect(try await fixture.apply([login, call]) == 0)
            #expect(try await fixture.apply([call, call, login, login]) == 0)

            let fresh = E.login(tenant: "t", subject: "s2", version: 1, email: "b@example.org", at: 2)
            #expect(try await fixture.apply([fresh, fresh]) == 1)

            let dump = try await fixture.dump()
            #expect(dump.filter { $0.hasPrefix("user\t") }.count == 2)
            #expect(dump.contains { $0.hasPrefix("user\t\(E.userId("t", "s1"))\t") && $0.contains("\t1\taccount=") })
            #expect(
                dump.filter { $0.hasPrefix("usage\t") }
                    == dump.filter { $0.hasPrefix("usage\t") && $0.contains("\tget_support\tt\t1\t1\t0\t0\t10000\t") }
            )
            #expect(try await fixture.count("inbox") == 3)
            #expect(try await fixture.count("outbox") == 2, "one user.upserted per user")
        }
    }

    @Test("An older version after a newer one changes no attribute, but its email enters the history", arguments: [false, true])
    func olderVersionAfterNewer(sameBatch: Bool) async throws {
        try await ProvisioningFixture.run { fixture in
            let newer = E.login(tenant: "t", subject: "s", version: 2, email: "new@example.org", name: "New", at: 20)
            let older = E.login(tenant: "t", subject: "s", version: 1, email: "old@example.org", verified: false, name: "Old", at: 10)
            if sameBatch {
                try await fixture.apply([newer, older])
            } else {
                try await fixture.apply([newer])
                try await fixture.apply([older])
            }
            let directory = UserDirectory(client: fixture.client, schema: fixture.schema, logger: fixture.logger)
            let user = try #require(try await directory.show(tenant: "t", id: E.userId("t", "s")))
            #expect(user.email == "new@example.org")
            #expect(user.emailVerified)
            #expect(user.name == "New")
            #expect(user.identities.map(\.version) == [2])
            #expect(user.identities.map(\.logins) == [2])
            #expect(user.firstSeenAt == E.start.addingTimeInterval(10))
            #expect(user.identities.first?.lastLoginAt == E.start.addingTimeInterval(20))
            #expect(user.emailHistory?.map(\.email) == ["old@example.org", "new@example.org"])

            // Only the newer profile was announced.
            let announced = try await upserts(fixture)
            #expect(announced.map(\.header.aggregateVersion) == [2])
            #expect(announced.first?.payload.email == "new@example.org")
            #expect(announced.first?.payload.firstSeenAt == E.start.addingTimeInterval(sameBatch ? 10 : 20))
        }
    }

    @Test("An email change keeps the user and records the history; each new version is announced with a stable event id")
    func emailChange() async throws {
        try await ProvisioningFixture.run { fixture in
            let first = E.login(tenant: "t", subject: "s", version: 1, email: "one@example.org", at: 0)
            let second = E.login(tenant: "t", subject: "s", version: 2, email: "two@example.org", at: 60)
            try await fixture.apply([first])
            try await fixture.apply([second])
            let dump = try await fixture.dump()
            #expect(dump.filter { $0.hasPrefix("user\t") }.count == 1)
            #expect(dump.filter { $0.hasPrefix("email\t") }.count == 2)
            let announced = try await upserts(fixture)
            #expect(announced.map(\.header.aggregateVersion) == [1, 2])
            #expect(announced.map(\.payload.email) == ["one@example.org", "two@example.org"])
            #expect(announced.allSatisfy { $0.header.aggregateKey == E.userId("t", "s") && $0.header.tenant == "t" })
            // Deriving again from the same login gives the same id: a re-announcement is a duplicate, not news.
            #expect(announced[1].eventId == UUID.derived(namespace: "user.upserted", name: second.header.eventId.uuidString.lowercased()))
        }
    }

    @Test("The same email from two upstream subjects: two users, unless the tenant links verified emails")
    func sameEmailTwoSubjects() async throws {
        try await ProvisioningFixture.run { fixture in
            // Policy none (the default, and what 1.0 events mean): two users.
            try await fixture.apply([
                E.login(tenant: "plain", subject: "a", version: 1, email: "ann@example.org", at: 0),
                E.login(tenant: "plain", subject: "b", version: 1, email: "ann@example.org", at: 5, issuer: "https://other.example"),
            ])
            // Policy verified_email: the verified identities are one user (case-insensitive),
            // the primary is the one seen first, whatever the order of application; an
            // unverified identity with the same email stays apart.
            try await fixture.apply([
                E.login(tenant: "linked", subject: "late", version: 1, email: "Ann@Example.org", at: 50, linking: .verifiedEmail)
            ])
            try await fixture.apply([
                E.login(tenant: "linked", subject: "early", version: 1, email: "ann@example.org", at: 10, linking: .verifiedEmail)
            ])
            try await fixture.apply([
                E.login(
                    tenant: "linked",
                    subject: "unverified",
                    version: 1,
                    email: "ann@example.org",
                    verified: false,
                    at: 1,
                    linking: .verifiedEmail
                )
            ])

            let directory = UserDirectory(client: fixture.client, schema: fixture.schema, logger: fixture.logger)
            let plain = try await directory.list(tenant: "plain")
            #expect(plain.users.count == 2)
            #expect(plain.users.allSatisfy { $0.identities.count == 1 })

            let linked = try await directory.list(tenant: "linked")
            #expect(linked.users.count == 2)
            let person = try #require(linked.users.first { $0.identities.count == 2 })
            #expect(person.userId == E.userId("linked", "early"))
            #expect(person.identities.map(\.userId) == [E.userId("linked", "early"), E.userId("linked", "late")])
            #expect(linked.users.contains { $0.userId == E.userId("linked", "unverified") && $0.identities.count == 1 })
            // Either identity's id finds the person.
            #expect(try await directory.show(tenant: "linked", id: E.userId("linked", "late"))?.userId == person.userId)

            // The early identity's email changes: the link follows the emails as they are now.
            try await fixture.apply([
                E.login(tenant: "linked", subject: "early", version: 2, email: "ann@work.example", at: 60, linking: .verifiedEmail)
            ])
            let after = try await directory.list(tenant: "linked")
            #expect(after.users.count == 3)
            #expect(after.users.allSatisfy { $0.identities.count == 1 })
        }
    }

    @Test("A tool call that arrives before its user's first login is kept and counted for that user")
    func toolCallBeforeUser() async throws {
        try await ProvisioningFixture.run { fixture in
            let user = E.userId("t", "s")
            try await fixture.apply([E.toolCall(tenant: "t", userId: user, tool: "whoami", durationMs: 1.5, at: 5)])
            try await fixture.apply([E.toolCall(tenant: "t", userId: user, tool: "whoami", outcome: .error, durationMs: 2.25, at: 6)])
            try await fixture.apply([E.toolCall(tenant: "t", userId: nil, tool: "whoami", at: 7)])
            #expect(try await fixture.count("users") == 0)
            #expect(try await fixture.count("tool_usage") == 1)

            try await fixture.apply([E.login(tenant: "t", subject: "s", version: 1, email: "s@example.org", at: 10)])
            let directory = UserDirectory(client: fixture.client, schema: fixture.schema, logger: fixture.logger)
            let shown = try #require(try await directory.show(tenant: "t", id: user))
            #expect(shown.toolUsage?.map(\.tool) == ["whoami"])
            #expect(shown.toolUsage?.first?.calls == 2)
            #expect(shown.toolUsage?.first?.errors == 1)
            #expect(shown.lastSeenAt == E.start.addingTimeInterval(10))
            // The anonymous call is counted per tool, never under a user.
            let dump = try await fixture.dump()
            #expect(dump.contains { $0.hasPrefix("public\tt\twhoami\t1\t1\t0\t0\t10000\t") })
            #expect(dump.contains { $0.hasPrefix("usage\t\(user)\twhoami\tt\t2\t1\t1\t0\t3750\t") })
        }
    }

    @Test("A service principal's calls (a client, no user) are counted under its client id, apart from users and anonymous calls")
    func servicePrincipalUsage() async throws {
        try await ProvisioningFixture.run { fixture in
            func serviceCall(_ client: String, outcome: ToolInvoked.Outcome = .success, at second: Double) -> ProvisioningScenario.Event {
                guard case .toolCall(var envelope) = E.toolCall(tenant: "t", userId: nil, tool: "whoami", outcome: outcome, at: second) else {
                    fatalError()
                }
                envelope.payload.clientId = client
                return .toolCall(envelope)
            }
            try await fixture.apply([serviceCall("mcp_client_a", at: 1), serviceCall("mcp_client_a", outcome: .denied, at: 2)])
            try await fixture.apply([serviceCall("mcp_client_b", at: 3), E.toolCall(tenant: "t", userId: nil, tool: "whoami", at: 4)])
            #expect(try await fixture.count("service_tool_usage") == 2)
            #expect(try await fixture.count("tool_usage") == 0)
            #expect(try await fixture.count("users") == 0)
            let dump = try await fixture.dump()
            #expect(dump.contains { $0.hasPrefix("service\tt\tmcp_client_a\twhoami\t2\t1\t0\t1\t") })
            #expect(dump.contains { $0.hasPrefix("service\tt\tmcp_client_b\twhoami\t1\t1\t0\t0\t") })
            #expect(dump.contains { $0.hasPrefix("public\tt\twhoami\t1\t1\t0\t0\t") })
        }
    }

    @Test(
        "Events the consumer can never apply are refused as deterministic failures, and nothing is written",
        arguments: [
            "user id that is not derived from the identity", "service call with an empty client id", "malformed user id", "negative duration",
        ]
    )
    func refusedEvents(_ name: String) async throws {
        let event = Self.refusedEvent(name)
        let good = E.login(tenant: "t", subject: "ok", version: 1, email: "ok@example.org", at: 0)
        try await ProvisioningFixture.run { fixture in
            let inBatch = await #expect(throws: (any Error).self) { try await fixture.apply([good, event]) }
            #expect(inBatch.map { PostgresFailure.underlying($0) is DeterministicEventError } == true)
            let alone = await #expect(throws: (any Error).self) { try await fixture.apply([event]) }
            #expect(alone.map(FailureKind.classify) == .deterministic)
            let dump = try await fixture.dump()
            let inbox = try await fixture.count("inbox")
            let outbox = try await fixture.count("outbox")
            #expect(dump == [])
            #expect(inbox == 0)
            #expect(outbox == 0)
        }
    }

    private static func refusedEvent(_ name: String) -> ProvisioningScenario.Event {
        switch name {
        case "user id that is not derived from the identity":
            guard case .login(var envelope) = E.login(tenant: "t", subject: "s", version: 1, email: nil, at: 0) else { fatalError() }
            envelope.payload.userId = E.userId("other-tenant", "s")
            return .login(envelope)
        case "service call with an empty client id":
            guard case .toolCall(var envelope) = E.toolCall(tenant: "t", userId: nil, at: 0) else { fatalError() }
            envelope.payload.clientId = ""
            return .toolCall(envelope)
        case "malformed user id":
            return E.toolCall(tenant: "t", userId: "anonymous-123", at: 0)
        default:
            return E.toolCall(tenant: "t", userId: E.userId("t", "s"), durationMs: -1, at: 0)
        }
    }

    @Test("Folding a batch is the same as applying its events one by one")
    func batchFoldMatchesSequence() async throws {
        var options = ProvisioningScenario.Options()
        options.events = 400
        options.usersPerTenant = 10
        options.seed = 11
        let events = ProvisioningScenario(options).events
        try await ProvisioningFixture.run { fixture in
            let single = try SchemaName("one_by_one")
            try await fixture.migrate(single)
            for event in events { try await fixture.apply([event], schema: single) }
            try await fixture.apply(events)
            #expect(try await fixture.dump() == (try await fixture.dump(single)))
        }
    }

    private func upserts(_ fixture: ProvisioningFixture) async throws -> [EventEnvelope<UserUpserted>] {
        let rows = try await fixture.client.query("SELECT envelope FROM \(fixture.schema).outbox ORDER BY id")
        var envelopes: [EventEnvelope<UserUpserted>] = []
        for try await text in rows.decode(String.self) { envelopes.append(try EventCodec.decode(UserUpserted.self, from: Array(text.utf8))) }
        return envelopes
    }
}
