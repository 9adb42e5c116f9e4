import GatehouseHTTP
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import Hummingbird
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import UnixSignals

/// What makes one Gatehouse executable: its name, its own PostgreSQL schema and migrations,
/// and its default HTTP port.
public struct ServiceDefinition: Sendable {
    public var name: String
    public var schema: SchemaName
    public var migrations: [Migration]
    public var defaultPort: Int

    public init(name: String, schema: SchemaName, migrations: [Migration], defaultPort: Int) {
        self.name = name
        self.schema = schema
        self.migrations = migrations
        self.defaultPort = defaultPort
    }

    public var migrator: Migrator { Migrator(schema: schema, migrations: migrations) }
}

/// The shared parts every service is built from: the database pool, the producer and the
/// outbox relay of the service's schema.
public struct ServiceContext: Sendable {
    public var definition: ServiceDefinition
    public var configuration: RuntimeConfiguration
    public var logger: Logger
    public var postgres: PostgresClient
    public var producer: KafkaProducer
    public var registry: PrometheusCollectorRegistry

    public init(
        definition: ServiceDefinition,
        configuration: RuntimeConfiguration,
        logger: Logger,
        registry: PrometheusCollectorRegistry
    ) throws {
        self.definition = definition
        self.configuration = configuration
        self.logger = logger
        self.registry = registry
        self.postgres = PostgresClient(configuration: configuration.postgres.clientConfiguration, backgroundLogger: logger)
        var producerConfiguration = KafkaProducerConfiguration(client: configuration.kafka)
        producerConfiguration.flushTimeout = min(configuration.shutdownGracePeriod / 2, .seconds(10))
        self.producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
    }

    /// Readiness: PostgreSQL answers a query and a Kafka broker answers a metadata request.
    public var readinessChecks: [ReadinessCheck] {
        [
            ReadinessCheck(name: "postgres") { [postgres] in try await postgres.query("SELECT 1") },
            ReadinessCheck(name: "kafka") { [producer] in try await producer.ping() },
        ]
    }

    public func outboxRelay(options: OutboxRelay.Options = .init()) -> OutboxRelay {
        OutboxRelay(
            client: postgres,
            settings: configuration.postgres,
            schema: definition.schema,
            producer: producer,
            options: options,
            logger: logger
        )
    }
}

extension ServiceContext {
    /// Builds the service's Hummingbird application: health and metrics routes plus the
    /// service's own, with the pool, producer, relay and any consumers as services. Graceful
    /// shutdown runs in reverse: the HTTP server drains first, then consumers and the relay
    /// stop, then the producer flushes, then the pool closes.
    public func application<Context: RequestContext>(
        router: Router<Context>,
        services: [any Service] = []
    ) -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        HealthRoutes.add(to: router, checks: readinessChecks)
        MetricsRoute.add(to: router, registry: registry)
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.http.host, port: configuration.http.port),
                serverName: "gatehouse-\(definition.name)"
            ),
            services: [postgres, producer, outboxRelay()] + services,
            logger: logger
        )
    }
}

/// Runs an application as the root of the process's service group, with the grace period and
/// the signals configured.
public func runUntilTerminated(_ app: any Service, configuration: RuntimeConfiguration, logger: Logger) async throws {
    var groupConfiguration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
    try await ServiceGroup(configuration: groupConfiguration).run()
}
