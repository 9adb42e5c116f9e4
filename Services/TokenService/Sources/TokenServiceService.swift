import AsyncHTTPClient
import Foundation
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// The token service: redeems the gateway's sealed codes, rotates refresh tokens, revokes,
/// introspects, answers userinfo; keeps projections of tenants, clients and users from Kafka.
package enum TokenServiceService {
    package static let definition = ServiceDefinition(
        name: "token-service",
        schema: try! SchemaName("tokens"),
        migrations: TokenMigrations.all,
        defaultPort: 8082
    )

    /// The token service's parts over one PostgreSQL client, for the application and for tests.
    package struct Parts: Sendable {
        package let store: TokenStore
        package let directory: HostDirectory<TokenTenant>
        package let profiles: UpstreamProfileClient?
        let guardrails: RequestGuardrails

        package init(
            postgres: PostgresClient,
            logger: Logger,
            configuration: TokenServiceConfiguration,
            directoryMaximumAge: Duration = .seconds(1)
        ) {
            let store = TokenStore(client: postgres, logger: logger)
            self.store = store
            directory = HostDirectory(maximumAge: directoryMaximumAge) { try await store.tenantChanges(since: $0) }
            guardrails = RequestGuardrails(limits: configuration.limits)
            profiles = configuration.gateway.map { gateway in
                UpstreamProfileClient(http: UpstreamProfileClient.makeHTTPClient(), gatewayURL: gateway.url, token: gateway.token)
            }
        }

        /// Shuts the gateway client down (the application does it as a service).
        package func shutdown() async throws {
            try await profiles?.http.shutdown()
        }
    }

    /// Adds the OAuth endpoints (and their root aliases) to a router, with CORS for browser-based
    /// clients (any origin, never credentials).
    package static func addRoutes(to router: Router<GatehouseRequestContext>, parts: Parts, configuration: TokenServiceConfiguration) {
        let token = TokenEndpoint(store: parts.store, configuration: configuration, guardrails: parts.guardrails)
        let information = TokenInformationEndpoints(
            store: parts.store,
            configuration: configuration,
            guardrails: parts.guardrails,
            profiles: parts.profiles
        )
        router.add(
            middleware: CORSMiddleware(
                allowOrigin: .all,
                allowHeaders: [.authorization, .contentType],
                allowMethods: [.get, .post, .options],
                allowCredentials: false,
                maxAge: .seconds(3600)
            )
        )
        let tenant = router.tenantRoutes(HostResolver(directory: parts.directory, origins: configuration.origins))
        for path in ["/oauth/token", "/token"] {
            tenant.post(RouterPath(path)) { request, context in try await token.handle(request, context) }
        }
        tenant.post("/oauth/revoke") { request, context in try await information.revoke(request, context) }
        tenant.post("/oauth/introspect") { request, context in try await information.introspect(request, context) }
        tenant.get("/oauth/userinfo") { request, context in try await information.userinfo(request, context) }
        tenant.post("/oauth/userinfo") { request, context in try await information.userinfo(request, context) }
        tenant.get("/oauth/jwks") { request, context in try await information.jwks(request, context) }
        for path in ["/oauth/token", "/token", "/oauth/revoke", "/oauth/introspect"] { router.methodNotAllowed(path, allowing: [.post]) }
        router.methodNotAllowed("/oauth/userinfo", allowing: [.get, .post])
        router.methodNotAllowed("/oauth/jwks", allowing: [.get])
    }

    package static func buildApplication(context: ServiceContext) throws -> some ApplicationProtocol {
        let configuration = try TokenServiceConfiguration(environment: ProcessInfo.processInfo.environment)
        let router = Router(context: GatehouseRequestContext.self)
        let parts = Parts(postgres: context.postgres, logger: context.logger, configuration: configuration)
        addRoutes(to: router, parts: parts, configuration: configuration)
        let consumer = EventConsumer(
            handler: TokenProjections(schema: definition.schema),
            client: context.postgres,
            schema: definition.schema,
            kafka: context.configuration.kafka,
            deadLetters: context.producer,
            logger: context.logger
        )
        return context.application(router: router, services: [consumer] + (parts.profiles.map { [HTTPClientShutdown(client: $0.http)] } ?? []))
    }
}
