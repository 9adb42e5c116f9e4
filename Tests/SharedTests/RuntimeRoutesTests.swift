import Foundation
import GatehouseRuntime
import Hummingbird
import HummingbirdTesting
import Metrics
import Prometheus
import Testing

@Suite("Health and metrics routes")
struct RuntimeRoutesTests {
    struct Down: Error {}

    func application(checks: [ReadinessCheck], registry: PrometheusCollectorRegistry = .init()) -> some ApplicationProtocol {
        let router = Router()
        HealthRoutes.add(to: router, checks: checks, timeout: .seconds(2))
        MetricsRoute.add(to: router, registry: registry)
        return Application(router: router)
    }

    @Test("Live answers 200; ready answers 200 when every dependency answers")
    func ready() async throws {
        let app = application(checks: [ReadinessCheck(name: "postgres") {}, ReadinessCheck(name: "kafka") {}])
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONDecoder().decode([String: AnyDecodable].self, from: Data(String(buffer: response.body).utf8))
                #expect(body["status"]?.string == "ok")
            }
        }
    }

    @Test("Ready answers 503 with Retry-After and names the failing or hanging dependency")
    func notReady() async throws {
        let app = application(checks: [
            ReadinessCheck(name: "postgres") { throw Down() },
            ReadinessCheck(name: "kafka") { try await Task.sleep(for: .seconds(30)) },
            ReadinessCheck(name: "other") {},
        ])
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                let body = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                let checks = body?["checks"] as? [String: String]
                #expect(checks == ["postgres": "unavailable", "kafka": "unavailable", "other": "ok"])
            }
        }
    }

    @Test("Metrics are served in the Prometheus text format")
    func metrics() async throws {
        let registry = PrometheusCollectorRegistry()
        let counter = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "gatehouse",
                subsystem: "test",
                metricName: "events",
                unitName: "total",
                helpText: "Events the test counted"
            ),
            labels: [("schema", "ledger")]
        )
        counter.increment(by: Int64(3))
        let app = application(checks: [], registry: registry)
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"gatehouse_test_events_total{schema="ledger"} 3"#))
            }
        }
    }
}

/// Decodes a JSON value of any shape, keeping strings.
struct AnyDecodable: Decodable {
    let string: String?
    init(from decoder: any Decoder) throws {
        string = try? decoder.singleValueContainer().decode(String.self)
    }
}
