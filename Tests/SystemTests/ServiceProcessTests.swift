import Foundation
import GatehousePostgres
import GatehouseTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A service executable as a real process: configuration errors, readiness, metrics and
/// graceful shutdown on SIGTERM.
@Suite("Service executables", .serialized)
struct ServiceProcessTests {
    @Test("A bad variable stops the service at once, naming the variable, with status 2")
    func configurationError() async throws {
        let (status, output) = try await ChildProcess.run(
            "gatehouse-provisioning",
            [],
            environment: ["GATEHOUSE_KAFKA_BOOTSTRAP": "127.0.0.1:9092", "GATEHOUSE_HTTP_PORT": "not-a-port"]
        )
        #expect(status == 2)
        #expect(output.joined().contains("GATEHOUSE_HTTP_PORT"))
    }

    @Test("The service migrates, becomes ready, serves metrics, and exits 0 on SIGTERM")
    func readyAndGracefulShutdown() async throws {
        let (postgres, broker) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "service")
        let port = try freeTCPPort()
        let process = try ChildProcess(
            executable: TestPaths.executable("gatehouse-provisioning"),
            arguments: ["serve"],
            environment: ServiceProcess.environment(database: settings, kafka: broker.bootstrapServers)
                .merging(["GATEHOUSE_HTTP_PORT": String(port)]) { $1 },
            name: "provisioning"
        )
        let base = "http://127.0.0.1:\(port)"
        try await eventually("ready", timeout: .seconds(60), interval: .milliseconds(200)) {
            try await get("\(base)/health/ready").status == 200
        }
        let live = try await get("\(base)/health/live")
        #expect(live.status == 200)
        let metrics = try await get("\(base)/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("gatehouse_outbox_published_total"))

        // Its log lines are JSON objects with a level and a message.
        let lines = process.output.filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] != nil && object?["message"] != nil)
        }

        #expect(await process.terminate(timeout: .seconds(20)) == 0)
    }
}

extension ServiceProcessTests {
    @Test(
        "The gateway and the token service refuse to start without a key ring (exit 2, naming the variable)",
        arguments: ["gatehouse-gateway", "gatehouse-token-service"]
    )
    func needsKeyRing(_ executable: String) async throws {
        let (postgres, broker) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "keyring_process")
        let (status, output) = try await ChildProcess.run(
            executable,
            ["serve"],
            environment: ServiceProcess.environment(database: settings, kafka: broker.bootstrapServers)
                .merging(["GATEHOUSE_HTTP_PORT": String(try freeTCPPort())]) { $1 }
        )
        #expect(status == 2)
        #expect(output.joined().contains("GATEHOUSE_KEYRING"))
    }

    @Test("The gateway serves discovery for a tenant created through its admin API, and exits 0 on SIGTERM")
    func gatewayServes() async throws {
        let (postgres, broker) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "gateway_process")
        let port = try freeTCPPort()
        let token = "gateway-process-operator-token-0123456789"
        let process = try ChildProcess(
            executable: TestPaths.executable("gatehouse-gateway"),
            arguments: ["serve"],
            environment: ServiceProcess.environment(database: settings, kafka: broker.bootstrapServers).merging([
                "GATEHOUSE_HTTP_PORT": String(port), "GATEHOUSE_KEYRING": "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
                "GATEHOUSE_OPERATOR_TOKEN": token, "GATEHOUSE_PUBLIC_SCHEME": "http", "GATEHOUSE_LOG_LEVEL": "warning",
            ]) { $1 },
            name: "gateway"
        )
        let base = "http://127.0.0.1:\(port)"
        try await eventually("ready", timeout: .seconds(60), interval: .milliseconds(200)) {
            try await get("\(base)/health/ready").status == 200
        }
        var create = URLRequest(url: URL(string: "\(base)/admin/tenants")!)
        create.httpMethod = "POST"
        create.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        create.setValue("application/json", forHTTPHeaderField: "Content-Type")
        create.httpBody = Data(#"{"id": "local", "display_name": "Local", "hosts": ["127.0.0.1:\#(port)"], "auth_mode": "none"}"#.utf8)
        let (_, created) = try await URLSession.shared.data(for: create)
        #expect((created as? HTTPURLResponse)?.statusCode == 201)
        let metadata = try await get("\(base)/.well-known/oauth-authorization-server")
        #expect(metadata.status == 200)
        #expect(metadata.body.contains("\"issuer\":\"http://127.0.0.1:\(port)\""))
        #expect(await process.terminate(timeout: .seconds(20)) == 0)
    }
}

private func get(_ url: String) async throws -> (status: Int, body: String) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}
