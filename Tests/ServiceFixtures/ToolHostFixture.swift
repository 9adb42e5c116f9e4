import Crypto
import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MCPToolHost
import NIOCore
import PostgresNIO
import TokenService

/// The tool host over a real token service: both schemas in one new database, the token
/// service's routes on a live loopback server that the tool host introspects at, and the tool
/// host's own routes on another. Tenants reach both projections as events through their
/// consumers' handlers.
package struct ToolHostFixture: Sendable {
    package static let sessionKey = SymmetricKey(data: Array(repeating: UInt8(9), count: 32))

    package let tokens: TokenFixture
    package let tokenHTTP: any TestClientProtocol
    package let parts: ToolHostService.Parts
    package let configuration: ToolHostConfiguration
    package let schema = ToolHostService.definition.schema

    package static func configuration(
        tokenServicePort: Int,
        cache: ToolHostConfiguration.Cache = .init(),
        allowedOrigins: Set<String> = [],
        assertionKeys: IdentityAssertionKeys = TokenFixture.assertionKeys,
        proxyMaximumResponseBytes: Int = 16 << 20
    ) -> ToolHostConfiguration {
        ToolHostConfiguration(
            origins: OriginResolver(defaultScheme: "https", trustedProxies: [IPNetwork("127.0.0.1")!]),
            introspection: .init(
                tokenServiceURL: "http://127.0.0.1:\(tokenServicePort)",
                clientId: TokenFixture.resourceServer.id,
                secret: TokenFixture.resourceServer.secret,
                // Production answers 503 after 2 s; these tests examine the answers, not that
                // deadline, and a busy machine running every suite at once can exceed it.
                deadline: .seconds(10)
            ),
            cache: cache,
            sessionKey: sessionKey,
            allowedOrigins: allowedOrigins,
            assertionKeys: assertionKeys,
            proxyMaximumResponseBytes: proxyMaximumResponseBytes
        )
    }

    /// Runs `body` with the token service live and the tool host's parts built over it.
    package static func run<T: Sendable>(
        cache: ToolHostConfiguration.Cache = .init(),
        allowedOrigins: Set<String> = [],
        directoryMaximumAge: Duration = .zero,
        assertionKeys: IdentityAssertionKeys = TokenFixture.assertionKeys,
        proxyMaximumResponseBytes: Int = 16 << 20,
        _ body: @Sendable (ToolHostFixture) async throws -> T
    ) async throws -> T {
        try await TokenFixture.run(configuration: TokenFixture.configuration(assertionKeys: assertionKeys)) { tokens in
            try await ToolHostService.definition.migrator.migrate(client: tokens.client, logger: tokens.logger)
            return try await tokens.application().test(.live) { tokenHTTP in
                let configuration = configuration(
                    tokenServicePort: tokenHTTP.port!,
                    cache: cache,
                    allowedOrigins: allowedOrigins,
                    assertionKeys: assertionKeys,
                    proxyMaximumResponseBytes: proxyMaximumResponseBytes
                )
                let parts = ToolHostService.Parts(
                    postgres: tokens.client,
                    logger: tokens.logger,
                    configuration: configuration,
                    directoryMaximumAge: directoryMaximumAge
                )
                let fixture = ToolHostFixture(tokens: tokens, tokenHTTP: tokenHTTP, parts: parts, configuration: configuration)
                do {
                    let result = try await body(fixture)
                    try await parts.shutdown()
                    return result
                } catch {
                    try? await parts.shutdown()
                    throw error
                }
            }
        }
    }

    /// The service's routes; `probe`, if given, counts the requests handled at once.
    package func application(authentication: Bool = true, probe: InFlightProbe? = nil) -> some ApplicationProtocol {
        let router = Router(context: GatehouseRequestContext.self)
        if let probe { router.add(middleware: probe.middleware()) }
        ToolHostService.addRoutes(to: router, parts: parts, configuration: configuration, authentication: authentication)
        return Application(router: router)
    }

    /// A tenant known to both services (host `<id>.example`).
    package func tenant(
        _ id: String,
        authMode: String = "oauth",
        disabled: Bool = false,
        version: Int64 = 1,
        accessSeconds: Int = 3600,
        mcp: MCPEndpointSettings? = nil,
        grants: TenantGrants? = nil
    ) async throws {
        let event = EventEnvelope(
            tenant: id,
            aggregateKey: id,
            aggregateVersion: version,
            payload: TenantUpdated(
                tenantId: id,
                displayName: "Tenant \(id)",
                hosts: ["\(id).example"],
                authMode: authMode,
                disabled: disabled,
                accessTokenSeconds: accessSeconds,
                refreshTokenSeconds: 86_400,
                mcp: mcp,
                grants: grants
            )
        )
        try await tokens.project(event)
        try await InboxProcessor(client: tokens.client, schema: schema, handler: ToolHostProjections(schema: schema), logger: tokens.logger)
            .apply([try incomingEvent(event)])
    }

    /// An access token for a user of `tenant`, from a real code redemption at the token service.
    package func accessToken(
        tenant: String = "acme",
        subject: String = "42",
        email: String = "ada@example.org",
        scopes: [String] = ["mcp:tools", "email", "profile"],
        client: TokenFixture.Client? = nil
    ) async throws -> String {
        var chosen = client
        if chosen == nil { chosen = try await tokens.client(tenant: tenant) }
        let client = chosen!
        let code = try TokenFixture.code(for: client, tenant: tenant, subject: subject, scopes: scopes, email: email)
        let json = try await tokenHTTP.redeem(code, client: client, host: "\(tenant).example").json
        guard let token = json["access_token"] as? String else { throw TestSupportError("no access token: \(json)") }
        return token
    }

    /// An access token of a service principal of `tenant` (which must offer client
    /// credentials): a client the operator registered, with `client_secret_basic`.
    package func serviceToken(tenant: String = "acme", scope: String = "mcp:tools") async throws -> (token: String, clientId: String) {
        let client = try await tokens.serviceClient(tenant: tenant, scope: scope)
        let json = try await tokenHTTP.form(
            "/oauth/token",
            [("grant_type", "client_credentials")],
            host: "\(tenant).example",
            headers: tokenHTTP.basic(client)
        ).json
        guard let token = json["access_token"] as? String else { throw TestSupportError("no access token: \(json)") }
        return (token, client.id)
    }

    package func outbox() async throws -> [(type: String, envelope: [String: Any])] {
        let rows = try await tokens.client.query("SELECT event_type, envelope::text FROM toolhost.outbox ORDER BY id")
        var events: [(String, [String: Any])] = []
        for try await (type, envelope) in rows.decode((String, String).self) {
            events.append((type, (try JSONSerialization.jsonObject(with: Data(envelope.utf8)) as? [String: Any]) ?? [:]))
        }
        return events
    }
}

/// MCP requests against the tool host.
extension TestClientProtocol {
    package func mcp(
        _ message: String,
        host: String = "acme.example",
        token: String? = nil,
        session: String? = nil,
        headers: HTTPFields = [:],
        method: HTTPRequest.Method = .post,
        path: String = "/mcp"
    ) async throws -> HTTPResult {
        var headers = headers
        headers[HTTPField.Name("X-Forwarded-Host")!] = host
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let session { headers[HTTPField.Name("Mcp-Session-Id")!] = session }
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        if headers[.accept] == nil { headers[.accept] = "application/json, text/event-stream" }
        return try await execute(uri: path, method: method, headers: headers, body: method == .post ? ByteBuffer(string: message) : nil) { response in
            HTTPResult(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
    }

    /// `tools/call` of `tool` with JSON `arguments`.
    package func callTool(
        _ tool: String,
        arguments: String = "{}",
        id: String = "1",
        host: String = "acme.example",
        token: String?,
        session: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> HTTPResult {
        try await mcp(PlatformClient.toolCallBody(tool, arguments: arguments, id: id), host: host, token: token, session: session, headers: headers)
    }
}

extension HTTPResult {
    /// `result` of a JSON-RPC response.
    package var result: [String: Any] { json["result"] as? [String: Any] ?? [:] }
    package var structured: [String: Any] { result["structuredContent"] as? [String: Any] ?? [:] }
    package var challenge: String { headers[.wwwAuthenticate] ?? "" }
}
