import AsyncHTTPClient
import Foundation
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// The MCP tool host: `/mcp` of every tenant, each request authenticated from its bearer
/// token (introspection at the token service, cached until a `token.revoked` arrives), tools
/// that receive the caller as a typed principal, and `tool.invoked` for usage tracking.
package enum ToolHostService {
    package static let definition = ServiceDefinition(
        name: "tool-host",
        schema: try! SchemaName("toolhost"),
        migrations: ToolHostMigrations.all,
        defaultPort: 8084
    )

    /// The tool host's parts over one PostgreSQL client, for the application, tests and the
    /// benchmark.
    package struct Parts: Sendable {
        package let store: ToolHostStore
        package let directory: HostDirectory<ToolTenant>
        package let validator: TokenValidator
        package let http: HTTPClient
        package let catalog: ToolCatalog
        package let sessions: MCPSessions
        /// The proxy's own client: no read timeout (listening streams stay open), no
        /// redirects, no decompression, a wide pool per upstream.
        package let proxyHTTP: HTTPClient
        let proxy: MCPProxy

        package init(
            postgres: PostgresClient,
            logger: Logger,
            configuration: ToolHostConfiguration,
            directoryMaximumAge: Duration = .seconds(1)
        ) {
            let store = ToolHostStore(client: postgres, logger: logger)
            self.store = store
            directory = HostDirectory(maximumAge: directoryMaximumAge) { try await store.tenantChanges(since: $0) }
            var httpConfiguration = HTTPClient.Configuration()
            httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
            http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration)
            validator = TokenValidator(
                client: IntrospectionClient(http: http, configuration: configuration.introspection),
                cache: configuration.cache
            )
            catalog = SupportTools.catalog(store: store)
            sessions = MCPSessions(key: configuration.sessionKey)
            var proxyConfiguration = HTTPClient.Configuration()
            proxyConfiguration.redirectConfiguration = .disallow
            proxyConfiguration.decompression = .disabled
            proxyConfiguration.timeout = .init(connect: .seconds(5), read: nil)
            proxyConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
            proxyHTTP = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: proxyConfiguration)
            let internalHTTP = http
            let upstreamTokens = configuration.gateway.map {
                UpstreamTokenClient(http: internalHTTP, gatewayURL: $0.url, internalToken: $0.token)
            }
            proxy = MCPProxy(
                http: proxyHTTP,
                signer: configuration.assertionKeys.map { AssertionSigner(keys: $0) },
                sessions: ProxySessions(sessionKey: configuration.sessionKey),
                upstreamTokens: upstreamTokens,
                store: store,
                limits: .init(
                    maximumRequestBytes: configuration.proxyMaximumRequestBytes,
                    maximumResponseBytes: configuration.proxyMaximumResponseBytes
                )
            )
        }

        package func shutdown() async throws {
            try await http.shutdown()
            try await proxyHTTP.shutdown()
        }
    }

    /// Adds `/mcp`. `authentication: false` serves every request as a fixed principal: only
    /// for the benchmark's baseline, never reachable from the environment.
    package static func addRoutes(
        to router: Router<GatehouseRequestContext>,
        parts: Parts,
        configuration: ToolHostConfiguration,
        authentication: Bool = true
    ) {
        let endpoint = MCPEndpoint(sessions: parts.sessions, proxy: parts.proxy, catalog: parts.catalog, store: parts.store)
        // The tenant from the host (404), the browser's Origin (403), the caller (401, 503).
        let mcp = router.tenantRoutes(HostResolver(directory: parts.directory, origins: configuration.origins))
            .group(context: MCPRequestContext.self)
            .add(middleware: BrowserOrigins(allowed: configuration.allowedOrigins))
            .add(
                middleware: BearerAuthenticator(
                    validator: authentication ? parts.validator : nil,
                    catalog: parts.catalog,
                    nonces: configuration.dpopNonces
                ) { [store = parts.store] proof in
                    try await store.recordProof(thumbprint: proof.thumbprint, jti: proof.jti, expiresAt: proof.expiresAt)
                }
            )
        for method: HTTPRequest.Method in [.post, .get, .delete, .options] {
            mcp.on("/mcp", method: method) { request, context in try await endpoint.handle(request, context) }
        }
    }

    package static func buildApplication(context: ServiceContext) throws -> some ApplicationProtocol {
        let configuration = try ToolHostConfiguration(environment: ProcessInfo.processInfo.environment)
        let router = Router(context: GatehouseRequestContext.self)
        let parts = Parts(postgres: context.postgres, logger: context.logger, configuration: configuration)
        addRoutes(to: router, parts: parts, configuration: configuration)
        let consumer = EventConsumer(
            handler: ToolHostProjections(schema: definition.schema),
            client: context.postgres,
            schema: definition.schema,
            kafka: context.configuration.kafka,
            deadLetters: context.producer,
            logger: context.logger
        )
        let feed = RevocationFeed(kafka: context.configuration.kafka, validator: parts.validator, logger: context.logger)
        return context.application(
            router: router,
            services: [consumer, feed, HTTPClientShutdown(client: parts.http), HTTPClientShutdown(client: parts.proxyHTTP)]
        )
    }
}
