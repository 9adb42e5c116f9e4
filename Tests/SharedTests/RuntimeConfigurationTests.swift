import GatehouseKafka
import GatehousePostgres
import GatehouseRuntime
import Logging
import Testing

@Suite("Runtime configuration")
struct RuntimeConfigurationTests {
    static let minimal = ["GATEHOUSE_KAFKA_BOOTSTRAP": "127.0.0.1:9092"]

    @Test("Defaults apply when only the broker is given")
    func defaults() throws {
        let configuration = try RuntimeConfiguration(serviceName: "gateway", defaultPort: 8081, environment: Self.minimal)
        #expect(configuration.http.port == 8081)
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.postgres.port == 5432)
        #expect(configuration.postgres.database == "gatehouse")
        #expect(configuration.kafka.bootstrapServers == "127.0.0.1:9092")
        #expect(configuration.logging.level == .info)
        #expect(configuration.migrateOnStart)
    }

    @Test("Values are read from the environment")
    func values() throws {
        let configuration = try RuntimeConfiguration(
            serviceName: "gateway",
            defaultPort: 8081,
            environment: Self.minimal.merging([
                "GATEHOUSE_HTTP_PORT": "9000", "GATEHOUSE_PG_HOST": "db", "GATEHOUSE_PG_PORT": "6543", "GATEHOUSE_PG_DATABASE": "gh",
                "GATEHOUSE_LOG_LEVEL": "DEBUG", "GATEHOUSE_LOG_FORMAT": "text", "GATEHOUSE_SHUTDOWN_GRACE_SECONDS": "7",
            ]) { _, new in new }
        )
        #expect(configuration.http.port == 9000)
        #expect(configuration.postgres.host == "db")
        #expect(configuration.postgres.port == 6543)
        #expect(configuration.postgres.database == "gh")
        #expect(configuration.logging.level == .debug)
        #expect(configuration.logging.format == .text)
        #expect(configuration.shutdownGracePeriod == .seconds(7))
    }

    @Test(
        "A bad or missing variable is named in the error",
        arguments: [
            ([:], "GATEHOUSE_KAFKA_BOOTSTRAP"),
            (["GATEHOUSE_KAFKA_BOOTSTRAP": "localhost"], "GATEHOUSE_KAFKA_BOOTSTRAP"),
            (["GATEHOUSE_HTTP_PORT": "http"], "GATEHOUSE_HTTP_PORT"),
            (["GATEHOUSE_HTTP_PORT": "70000"], "GATEHOUSE_HTTP_PORT"),
            (["GATEHOUSE_PG_PORT": "0"], "GATEHOUSE_PG_PORT"),
            (["GATEHOUSE_PG_MAX_CONNECTIONS": "-1"], "GATEHOUSE_PG_MAX_CONNECTIONS"),
            (["GATEHOUSE_LOG_LEVEL": "loud"], "GATEHOUSE_LOG_LEVEL"),
            (["GATEHOUSE_LOG_FORMAT": "xml"], "GATEHOUSE_LOG_FORMAT"),
            (["GATEHOUSE_SHUTDOWN_GRACE_SECONDS": "forever"], "GATEHOUSE_SHUTDOWN_GRACE_SECONDS"),
            (["GATEHOUSE_MIGRATE_ON_START": "yes"], "GATEHOUSE_MIGRATE_ON_START"),
        ]
    )
    func badVariable(_ overrides: [String: String], variable: String) {
        let environment =
            overrides["GATEHOUSE_KAFKA_BOOTSTRAP"] == nil && variable != "GATEHOUSE_KAFKA_BOOTSTRAP"
            ? Self.minimal.merging(overrides) { _, new in new } : overrides
        do {
            _ = try RuntimeConfiguration(serviceName: "gateway", defaultPort: 8081, environment: environment)
            Issue.record("expected a configuration error for \(variable)")
        } catch let error as ConfigurationError {
            #expect(error.variable == variable)
            #expect(error.description.contains(variable))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("The password never appears in the configuration's error text")
    func passwordNotEchoed() {
        let environment = ["GATEHOUSE_PG_PASSWORD": "s3cret-value", "GATEHOUSE_PG_PORT": "nope", "GATEHOUSE_KAFKA_BOOTSTRAP": "a:1"]
        #expect(throws: ConfigurationError.self) {
            try RuntimeConfiguration(serviceName: "x", defaultPort: 1, environment: environment)
        }
        do {
            _ = try RuntimeConfiguration(serviceName: "x", defaultPort: 1, environment: environment)
        } catch {
            #expect(!"\(error)".contains("s3cret-value"))
        }
    }
}
