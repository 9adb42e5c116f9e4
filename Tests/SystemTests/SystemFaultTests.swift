import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseTestSupport
import PostgresNIO
import Testing

/// The platform under a steady load of logins and tool calls while its parts fail: the broker
/// down for 30 s, PostgreSQL restarted, each service killed with SIGKILL and started again.
/// Two instances of every service run as processes behind the TLS front door, on a PostgreSQL
/// cluster and a broker of this test's own (it restarts them).
@Suite("System: faults under steady load", .serialized)
struct SystemFaultTests {
    @Test(
        "Broker down 30 s, PostgreSQL restarted, every service SIGKILLed: no login lost, no user duplicated or missing, no event lost, no 500; replay equals the live state"
    )
    func faultsUnderLoad() async throws {
        let postgres = try await TestPostgres.make()
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "faults")
        let upstream = try await DevIdentityProvider()
        // Every login registers a client of its own, all from one address: the per-address limit is lifted.
        let platform = try await Platform.start(
            database: database,
            kafka: broker.bootstrapServers,
            instances: 2,
            provisioning: true,
            gatewayEnvironment: ["GATEHOUSE_REGISTRATIONS_PER_MINUTE": "100000"]
        )
        let client = PlatformClient(patience: .seconds(90))
        do {
            try await platform.createTenant(upstream: upstream.app)
            let load = PlatformLoad(
                client: client,
                endpoints: OAuthEndpoints(origin: platform.frontDoor.origin),
                loginWorkers: 3,
                callWorkers: 2,
                registerEachLogin: true
            )
            let running = Task { await load.run() }
            var timeline: [String] = []
            func note(_ what: String) { timeline.append("\(what): \(load.completedLogins) logins, \(load.toolCalls) tool calls") }

            try await Task.sleep(for: .seconds(3))
            note("steady")
            // Logins never wait on the broker (invariant 3): they go on while it is down, for
            // clients registered while it is down too (the token service has not heard of them;
            // the sealed code carries their registration).
            try await broker.setUp(false)
            let loginsBeforeOutage = load.completedLogins
            try await Task.sleep(for: .seconds(30))
            let loginsDuringOutage = load.completedLogins - loginsBeforeOutage
            try await broker.setUp(true)
            note("broker down 30 s")
            #expect(loginsDuringOutage > 0, "logins must go on while the broker is down")

            try await postgres.restart(downFor: .seconds(2))
            try await Task.sleep(for: .seconds(2))
            note("PostgreSQL restarted")

            var lastKill = ContinuousClock.now
            for group in [platform.gateways, platform.tokenServices, platform.toolHosts, platform.provisioners] {
                let victim = group[0]
                lastKill = .now
                await victim.kill()
                try await Task.sleep(for: .seconds(1))
                try await victim.restart()
                try await Task.sleep(for: .seconds(2))
                note("\(victim.name) killed and restarted")
            }
            let lastFault = ContinuousClock.now
            try await Task.sleep(for: .seconds(2))
            load.stop()
            let report = await running.value
            let drained = ContinuousClock.now
            note("stopped")
            print("Fault run:\n  " + timeline.joined(separator: "\n  "))
            print(
                "Statuses seen: \(client.observations.statuses.sorted { $0.key < $1.key }), transport failures retried: \(client.observations.transportFailures), logins restarted: \(report.restartedLogins.count) \(report.restartedLogins)"
            )

            // No login lost, no tool call failed for good, and not one 500 on the way.
            #expect(report.lostLogins.isEmpty, "\(report.lostLogins)")
            #expect(report.failedCalls.isEmpty, "\(report.failedCalls.prefix(5))")
            #expect(client.observations.count(500) == 0)
            #expect(report.people.count >= 10, "a steady load signs in people throughout")

            // Every person is provisioned exactly once, soon after the last fault.
            let emails = Set(report.people.map(\.email))
            try await eventually("every person provisioned", timeout: .seconds(60), interval: .milliseconds(200)) {
                try await platform.query("SELECT count(DISTINCT email)::text FROM provisioning.users WHERE tenant = 'acme'") == [["\(emails.count)"]]
            }
            let provisioned = ContinuousClock.now
            print(
                "Every person provisioned \(provisioned - lastKill) after provisioning-1 was killed, \(provisioned - lastFault) after it was back, \(provisioned - drained) after the load's last request"
            )
            let users = try await platform.query("SELECT email FROM provisioning.users WHERE tenant = 'acme'").map { $0[0] }
            #expect(users.count == emails.count, "no person has two users")
            #expect(Set(users) == emails)

            // No event lost: every outbox is published, and every event it holds is on its topic.
            try await expectEveryEventPublished(platform: platform, broker: broker)
            // The provisioning consumers counted every tool call exactly once.
            let invoked = try await platform.query(
                """
                SELECT count(*)::text FROM toolhost.outbox
                WHERE event_type = 'tool.invoked' AND envelope::jsonb -> 'payload' ->> 'outcome' = 'success'
                """
            )[0][0]
            #expect(Int(invoked) ?? 0 >= report.toolCalls + report.supportRequests, "every answered call has its tool.invoked")
            try await eventually("the tool calls counted", timeout: .seconds(60), interval: .milliseconds(200)) {
                try await platform.query("SELECT coalesce(sum(successes), 0)::text FROM provisioning.tool_usage WHERE tenant = 'acme'") == [[invoked]]
            }
            let filed = Int(try await platform.query("SELECT count(*)::text FROM toolhost.support_requests")[0][0]) ?? 0
            #expect(filed >= report.supportRequests, "every answered get_support is stored")
            #expect(try await TopicReader.readAll(topic: Topics.deadLetter, kafka: broker.clientOptions).isEmpty, "nothing dead-lettered")

            // Replay: the provisioning state rebuilt from offset 0 equals the live one.
            let replayStarted = ContinuousClock.now
            let replay = try await ChildProcess.run(
                "gatehouse-provisioning",
                ["replay", "--schema", "rebuilt"],
                environment: platform.environment,
                timeout: .seconds(120)
            )
            #expect(replay.status == 0, "\(replay.output.suffix(5))")
            print("Replay: \(replay.output.last { $0.hasPrefix("Replayed ") } ?? "no summary") in \(ContinuousClock.now - replayStarted)")
            for (table, order) in [
                ("users", "user_id"), ("email_history", "user_id, email"), ("tool_usage", "user_id, tool"),
                ("public_tool_usage", "tenant, tool"),
            ] {
                let live = try await platform.query("SELECT * FROM provisioning.\(unescaped: table) ORDER BY \(unescaped: order)")
                let rebuilt = try await platform.query("SELECT * FROM rebuilt.\(unescaped: table) ORDER BY \(unescaped: order)")
                #expect(live == rebuilt, "provisioning.\(table) and its replay differ")
                #expect(!live.isEmpty || table == "public_tool_usage")
            }
        } catch {
            print(platform.report(lines: 20))
            await platform.stop(client: client, upstream: upstream, broker: broker)
            throw error
        }
        await platform.stop(client: client, upstream: upstream, broker: broker)
    }

    /// Every service's outbox drains, and each event it ever held is on the topic it names.
    private func expectEveryEventPublished(platform: Platform, broker: TestBroker) async throws {
        for schema in ["gateway", "tokens", "toolhost", "provisioning"] {
            try await eventually("\(schema)'s outbox published", timeout: .seconds(60), interval: .milliseconds(200)) {
                try await platform.query("SELECT count(*)::text FROM \(unescaped: schema).outbox WHERE published_at IS NULL") == [["0"]]
            }
        }
        var onTopics: [String: Set<UUID>] = [:]
        for topic in [Topics.gateway, Topics.tokens, Topics.users, Topics.tools] {
            let messages = try await TopicReader.readAll(topic: topic, kafka: broker.clientOptions)
            onTopics[topic] = Set(try messages.map { try EventCodec.header(of: $0.value).eventId })
        }
        for schema in ["gateway", "tokens", "toolhost", "provisioning"] {
            let rows = try await platform.query("SELECT topic, event_id::text FROM \(unescaped: schema).outbox")
            let missing = rows.filter { onTopics[$0[0]]?.contains(UUID(uuidString: $0[1]) ?? UUID()) != true }
            #expect(missing.isEmpty, "\(missing.count) of \(schema)'s \(rows.count) events are not on their topics")
            #expect(!rows.isEmpty, "\(schema) announced nothing")
        }
    }
}
