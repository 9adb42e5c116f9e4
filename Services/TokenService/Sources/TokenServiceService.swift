import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Hummingbird
import ServiceLifecycle

/// The token-service service: its schema, migrations and HTTP application.
public enum TokenServiceService {
    public static let definition = ServiceDefinition(
        name: "token-service",
        schema: try! SchemaName("tokens"),
        migrations: [
            MessagingMigrations.outbox(version: 1),
            MessagingMigrations.inbox(version: 2),
        ],
        defaultPort: 8082
    )

    /// Builds the application: shared runtime routes (health, metrics) and the outbox relay.
    public static func buildApplication(context: ServiceContext) -> some ApplicationProtocol {
        let router = Router()
        return context.application(router: router)
    }
}
