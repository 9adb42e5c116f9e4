import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Hummingbird
import ServiceLifecycle

/// The provisioning service: the only writer of end users (from `upstream-token.stored`) and
/// of usage (from `tool.invoked`), with a read-only admin view of both.
package enum ProvisioningService {
    package static let definition = ServiceDefinition(
        name: "provisioning",
        schema: try! SchemaName("provisioning"),
        migrations: ProvisioningMigrations.all,
        defaultPort: 8083
    )

    /// Builds the application: runtime routes (health, metrics), the admin users API, the
    /// outbox relay (`user.upserted`) and the consumer.
    package static func buildApplication(context: ServiceContext, topics: ProvisioningTopics = ProvisioningTopics()) -> some ApplicationProtocol {
        let router = Router()
        let directory = UserDirectory(client: context.postgres, schema: definition.schema, logger: context.logger)
        UserAdminRoutes.add(to: router, directory: directory, operatorToken: context.configuration.operatorToken)
        let consumer = EventConsumer(
            handler: ProvisioningHandler(schema: definition.schema, topics: topics),
            client: context.postgres,
            schema: definition.schema,
            kafka: context.configuration.kafka,
            deadLetters: context.producer,
            logger: context.logger
        )
        return context.application(router: router, services: [consumer])
    }
}
