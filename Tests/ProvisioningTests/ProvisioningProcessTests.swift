import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehousePostgres
import GatehouseTestSupport
import Logging
import PostgresNIO
import ServiceFixtures
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `gatehouse-provisioning` as a process on the platform's own topics: the service consumes a
/// login and a tool call, announces the user, and serves it on the admin API; then the operator
/// commands read it and rebuild it.
@Suite("Provisioning executable", .serialized)
struct ProvisioningProcessTests {
    typealias E = ProvisioningEvents
    static let token = "process-test-operator-token-0123456789"

    @Test("serve: a login becomes a user on the admin API and a user.upserted; users list/show and replay as commands")
    func serveAndOperatorCommands() async throws {
        let (postgres, broker) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "provisioning_process")
        let tenant = "process-\(UUID().uuidString.prefix(8).lowercased())"
        let port = try freeTCPPort()
        let environment = ServiceProcess.environment(database: settings, kafka: broker.bootstrapServers).merging([
            "GATEHOUSE_HTTP_PORT": String(port), "GATEHOUSE_OPERATOR_TOKEN": Self.token, "GATEHOUSE_LOG_LEVEL": "warning",
        ]) { $1 }
        let service = try ChildProcess(
            executable: TestPaths.executable("gatehouse-provisioning"),
            arguments: ["serve"],
            environment: environment,
            name: "provisioning-serve"
        )
        let base = "http://127.0.0.1:\(port)"
        try await eventually("ready", timeout: .seconds(60), interval: .milliseconds(200)) {
            try await get("\(base)/health/ready").status == 200
        }

        let user = E.userId(tenant, "alice")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: broker.clientOptions), logger: testLogger())
        try await withServices([producer]) {
            for event in [
                E.login(tenant: tenant, subject: "alice", version: 1, email: "alice@example.org", name: "Alice", at: 0),
                E.toolCall(tenant: tenant, userId: user, tool: "get_support", at: 5),
            ] {
                _ = try await producer.send(
                    KafkaOutgoingMessage(
                        topic: event.header.type == "tool.invoked" ? Topics.tools : Topics.gateway,
                        key: Array(event.header.aggregateKey.utf8),
                        value: try event.encoded()
                    )
                )
            }
        }
        var shown: [String: Any] = [:]
        try await eventually("the user and the tool call on the admin API", interval: .milliseconds(200)) {
            let response = try await get("\(base)/admin/tenants/\(tenant)/users/\(user)", token: Self.token)
            shown = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]) ?? [:]
            return response.status == 200 && (shown["tool_usage"] as? [Any])?.count == 1
        }
        #expect(shown["email"] as? String == "alice@example.org")
        #expect(try await get("\(base)/admin/tenants/\(tenant)/users").status == 401)

        let announced = try await TopicReader.readAll(topic: Topics.users, kafka: broker.clientOptions)
            .compactMap { try? EventCodec.decode(UserUpserted.self, from: $0.value) }
            .filter { $0.header.tenant == tenant }
        #expect(announced.map(\.payload.userId) == [user])
        #expect(announced.first?.payload.email == "alice@example.org")
        #expect(await service.terminate(timeout: .seconds(20)) == 0)

        // Operator commands, with the service's environment.
        let list = try await run(["users", "list", "--tenant", tenant], environment: environment)
        #expect(list.status == 0)
        #expect(list.output.contains { $0.hasPrefix(user) && $0.contains("alice@example.org") })
        let show = try await run(["users", "show", "--tenant", tenant, user], environment: environment, standardError: false)
        #expect(show.status == 0)
        let detail = try JSONSerialization.jsonObject(with: Data(show.output.joined(separator: "\n").utf8)) as? [String: Any]
        #expect(detail?["user_id"] as? String == user)
        let missing = try await run(["users", "show", "--tenant", "no-such-tenant", user], environment: environment)
        #expect(missing.output.contains { $0.contains("No user") })
        let badLimit = try await run(["users", "list", "--tenant", tenant, "--limit", "0"], environment: environment)
        #expect(badLimit.status != 0)

        let replay = try await run(["replay", "--schema", "rebuilt", "--batch-size", "1"], environment: environment)
        #expect(replay.status == 0)
        #expect(replay.output.contains { $0.hasPrefix("[") && $0.contains("events") }, "a progress bar")
        let summary = try #require(replay.output.last { $0.hasPrefix("Replayed ") })
        #expect(summary.contains("into rebuilt") && summary.contains("skipped"))
        let again = try await run(["replay", "--schema", "rebuilt"], environment: environment)
        #expect(again.status != 0)
        #expect(again.output.contains { $0.contains("not empty") || $0.contains("already holds") })

        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: testLogger())
        let rebuilt = try await client.whileRunning {
            let rows = try await client.query("SELECT email FROM rebuilt.users WHERE user_id = \(user)")
            var emails: [String?] = []
            for try await email in rows.decode(String?.self) { emails.append(email) }
            return emails
        }
        #expect(rebuilt == ["alice@example.org"])
    }

    /// Runs an operator command; `standardError` adds its standard error (progress, messages) to the output lines.
    private func run(
        _ arguments: [String],
        environment: [String: String],
        standardError: Bool = true
    ) async throws -> (status: Int32, output: [String]) {
        try await ChildProcess.run("gatehouse-provisioning", arguments, environment: environment, captureStandardError: standardError)
    }
}

private func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: URL(string: url)!)
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}
