import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// The authorization gateway: tenants and their upstreams, discovery, client registration (and,
/// next, authorization, consent and the upstream callback).
package enum GatewayService {
    package static let definition = ServiceDefinition(
        name: "gateway",
        schema: try! SchemaName("gateway"),
        migrations: GatewayMigrations.all,
        defaultPort: 8081
    )

    /// The gateway's parts over one PostgreSQL client, for the application and for tests.
    package struct Parts: Sendable {
        package let tenants: TenantStore
        package let clients: ClientStore
        package let directory: TenantDirectory
        package let resolver: TenantResolver
        package let registrationLimiter: RateLimiter
        package let authorizations: AuthorizationStore
        package let keyRing: KeyRing
        package let upstream: UpstreamClient
        package let oidc: OIDCDirectory
        package let upstreamTokens: UpstreamTokenStore
        package let metadataDocuments: ClientMetadataDocuments

        package init(context: ServiceContext, configuration: GatewayConfiguration) {
            self.init(postgres: context.postgres, logger: context.logger, configuration: configuration)
        }

        package init(postgres: PostgresClient, logger: Logger, configuration: GatewayConfiguration, directoryMaximumAge: Duration = .seconds(1)) {
            tenants = TenantStore(
                client: postgres,
                schema: definition.schema,
                keyRing: configuration.keyRing,
                allowInsecureUpstream: configuration.allowInsecureUpstream,
                logger: logger
            )
            clients = ClientStore(client: postgres, schema: definition.schema, logger: logger)
            directory = TenantDirectory(store: tenants, maximumAge: directoryMaximumAge)
            resolver = TenantResolver(
                directory: directory,
                origins: OriginResolver(
                    defaultScheme: configuration.publicScheme,
                    trustedProxies: configuration.trustedProxies
                )
            )
            registrationLimiter = RateLimiter(capacity: configuration.registration.perMinutePerAddress, per: .seconds(60))
            authorizations = AuthorizationStore(client: postgres, schema: definition.schema, logger: logger)
            keyRing = configuration.keyRing
            upstream = UpstreamClient(http: UpstreamClient.makeHTTPClient())
            oidc = OIDCDirectory(client: upstream)
            upstreamTokens = UpstreamTokenStore(client: postgres, schema: definition.schema, logger: logger)
            metadataDocuments = ClientMetadataDocuments(
                allowLoopback: configuration.allowLoopbackMetadataDocuments,
                pinned: configuration.pinnedMetadataDocuments,
                logger: logger
            )
        }
    }

    /// Adds the gateway's routes to a router.
    package static func addRoutes(
        to router: Router<GatehouseRequestContext>,
        parts: Parts,
        configuration: GatewayConfiguration,
        operatorToken: OperatorToken?
    ) {
        UpstreamProfileRoutes.add(to: router, parts: parts, internalToken: configuration.internalToken)
        DiscoveryRoutes.add(to: router, tenants: parts.resolver)
        RegistrationRoutes.add(
            to: router,
            tenants: parts.resolver,
            store: parts.clients,
            policy: configuration.registration,
            limiter: parts.registrationLimiter
        )
        AuthorizeRoutes.add(
            to: router,
            tenants: parts.resolver,
            store: parts.authorizations,
            oidc: parts.oidc,
            keyRing: parts.keyRing,
            documents: parts.metadataDocuments
        )
        CallbackRoutes.add(
            to: router,
            tenants: parts.resolver,
            store: parts.authorizations,
            tenantStore: parts.tenants,
            upstream: parts.upstream,
            oidc: parts.oidc,
            keyRing: parts.keyRing,
            documents: parts.metadataDocuments
        )
        TenantAdminRoutes.add(
            to: router,
            store: parts.tenants,
            clients: parts.clients,
            directory: parts.directory,
            operatorToken: operatorToken
        )
    }

    package static func buildApplication(context: ServiceContext) throws -> some ApplicationProtocol {
        let configuration = try GatewayConfiguration(environment: ProcessInfo.processInfo.environment)
        let router = Router(context: GatehouseRequestContext.self)
        let parts = Parts(context: context, configuration: configuration)
        addRoutes(to: router, parts: parts, configuration: configuration, operatorToken: context.configuration.operatorToken)
        let sweeper = ExpirySweeper(client: context.postgres, schema: definition.schema, logger: context.logger)
        return context.application(router: router, services: [sweeper, HTTPClientShutdown(client: parts.upstream.http)])
    }
}
