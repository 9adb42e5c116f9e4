import GatehouseHTTP
import GatehouseKafka
import GatehousePostgres
import Logging

/// What every Gatehouse executable reads from its environment, validated in one place.
public struct RuntimeConfiguration: Sendable {
    public typealias LogFormat = GatehouseHTTP.LogFormat
    public enum LogLevel: String, Sendable, CaseIterable { case trace, debug, info, notice, warning, error, critical }

    public struct HTTP: Sendable {
        public var host: String
        public var port: Int
    }

    public struct LogSettings: Sendable {
        public var level: Logger.Level
        public var format: LogFormat
    }

    public var serviceName: String
    public var http: HTTP
    public var logging: LogSettings
    public var postgres: PostgresSettings
    public var kafka: KafkaClientOptions
    public var shutdownGracePeriod: Duration
    /// Run migrations at start-up (on by default; the `migrate` command runs them explicitly).
    public var migrateOnStart: Bool
    /// The admin API's bearer token; without one the admin API refuses every request.
    public var operatorToken: OperatorToken?

    /// Reads `GATEHOUSE_*` variables. Throws a `ConfigurationError` naming the first bad one.
    public init(serviceName: String, defaultPort: Int, environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        self.serviceName = serviceName
        self.http = HTTP(
            host: try env.string("GATEHOUSE_HTTP_HOST", default: "127.0.0.1"),
            port: try env.int("GATEHOUSE_HTTP_PORT", default: defaultPort, range: 0...65535)
        )
        let level: LogLevel = try env.choice("GATEHOUSE_LOG_LEVEL", default: .info)
        self.logging = LogSettings(level: Logger.Level(rawValue: level.rawValue)!, format: try env.choice("GATEHOUSE_LOG_FORMAT", default: .json))
        self.postgres = try Self.postgresSettings(environment: environment)
        let bootstrap = try env.string("GATEHOUSE_KAFKA_BOOTSTRAP")
        guard bootstrap.split(separator: ",").allSatisfy({ $0.contains(":") }) else {
            throw ConfigurationError(variable: "GATEHOUSE_KAFKA_BOOTSTRAP", problem: "must be host:port[,host:port...], got '\(bootstrap)'")
        }
        self.kafka = KafkaClientOptions(bootstrapServers: bootstrap, clientID: "gatehouse-\(serviceName)")
        self.shutdownGracePeriod = .seconds(try env.int("GATEHOUSE_SHUTDOWN_GRACE_SECONDS", default: 25, range: 1...600))
        let migrate = try env.string("GATEHOUSE_MIGRATE_ON_START", default: "true")
        guard ["true", "false"].contains(migrate) else {
            throw ConfigurationError(variable: "GATEHOUSE_MIGRATE_ON_START", problem: "must be true or false, got '\(migrate)'")
        }
        self.migrateOnStart = migrate == "true"
        self.operatorToken = try env.bearerToken("GATEHOUSE_OPERATOR_TOKEN")
    }

    /// Only the `GATEHOUSE_PG_*` variables: for operator commands that need the database alone.
    public static func postgresSettings(environment: [String: String]) throws -> PostgresSettings {
        let env = EnvironmentReader(environment)
        return PostgresSettings(
            host: try env.string("GATEHOUSE_PG_HOST", default: "127.0.0.1"),
            port: try env.int("GATEHOUSE_PG_PORT", default: 5432, range: 1...65535),
            username: try env.string("GATEHOUSE_PG_USER", default: "gatehouse"),
            password: env.optionalString("GATEHOUSE_PG_PASSWORD"),
            database: try env.string("GATEHOUSE_PG_DATABASE", default: "gatehouse"),
            maximumConnections: try env.int("GATEHOUSE_PG_MAX_CONNECTIONS", default: 10, range: 1...500)
        )
    }
}
