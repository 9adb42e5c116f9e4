import Foundation
import GatehouseCrypto
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
import PostgresNIO
import TokenService

/// A migrated token-service schema and its routes on a live loopback server. Tenants and
/// clients reach its projections the way they do in production: as events applied by its
/// consumer's handler through the inbox. Codes are sealed with the key ring the gateway
/// fixture uses, exactly as the gateway seals them.
package struct TokenFixture: Sendable {
    package static let keyRing = try! KeyRing(keys: ["k1": Array(repeating: 7, count: 32)], current: "k1")
    package static let resourceServer = (id: "toolhost", secret: "toolhost-introspection-secret-0123456789")
    package static let redirect = "http://127.0.0.1:7777/callback"
    package static let verifier = String(repeating: "verifier-", count: 6)

    package let client: PostgresClient
    package let settings: PostgresSettings
    package let logger: Logger
    package let configuration: TokenServiceConfiguration
    package let parts: TokenServiceService.Parts
    package let schema = TokenServiceService.definition.schema

    package static func configuration(
        grace: Duration = .seconds(30),
        failuresPerMinute: Int = 10_000,
        gateway: (url: String, token: OperatorToken)? = nil,
        assertionKeys: IdentityAssertionKeys = TokenFixture.assertionKeys
    ) -> TokenServiceConfiguration {
        TokenServiceConfiguration(
            keyRing: keyRing,
            origins: OriginResolver(defaultScheme: "https", trustedProxies: [IPNetwork("127.0.0.1")!]),
            refreshGrace: grace,
            codeFailureLimit: 3,
            resourceServers: [resourceServer.id: SecretHash.of(resourceServer.secret)],
            limits: TokenRateLimits(requestsPerMinute: 1_000_000, failuresPerMinute: failuresPerMinute),
            gateway: gateway,
            assertionKeys: assertionKeys
        )
    }

    /// The identity assertion keys the token service publishes and the tool host signs with.
    package static let assertionKeys = try! IdentityAssertionKeys(specification: "a1:" + Base64URL.encode(Array(repeating: UInt8(7), count: 32)))

    /// Runs `body` with a fixture over a new database (or `settings`' database, migrated here).
    package static func run<T: Sendable>(
        configuration: TokenServiceConfiguration = configuration(),
        settings: PostgresSettings? = nil,
        _ body: (TokenFixture) async throws -> T
    ) async throws -> T {
        var database = settings
        if database == nil { database = try await TestEnvironment.shared.postgresAndBroker().0.makeDatabase(named: "tokens") }
        let settings = database!
        let logger = testLogger()
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let fixture = TokenFixture(
            client: client,
            settings: settings,
            logger: logger,
            configuration: configuration,
            parts: .init(postgres: client, logger: logger, configuration: configuration, directoryMaximumAge: .zero)
        )
        do {
            let result = try await client.whileRunning {
                try await TokenServiceService.definition.migrator.migrate(client: client, logger: logger)
                return try await body(fixture)
            }
            try await fixture.parts.shutdown()
            return result
        } catch {
            try? await fixture.parts.shutdown()
            throw error
        }
    }

    /// The service's routes; `probe`, if given, counts the requests handled at once.
    package func application(probe: InFlightProbe? = nil) -> some ApplicationProtocol {
        let router = Router(context: GatehouseRequestContext.self)
        if let probe { router.add(middleware: probe.middleware()) }
        TokenServiceService.addRoutes(to: router, parts: parts, configuration: configuration)
        return Application(router: router)
    }

    // MARK: Projections, through the consumer's handler

    package func project<P: EventPayload>(_ envelope: EventEnvelope<P>) async throws {
        try await InboxProcessor(client: client, schema: schema, handler: TokenProjections(schema: schema), logger: logger)
            .apply([try incomingEvent(envelope)])
    }

    package func tenant(
        _ id: String,
        version: Int64 = 1,
        accessSeconds: Int = 3600,
        refreshSeconds: Int = 86_400,
        disabled: Bool = false,
        freshUpstreamProfile: Bool = false,
        clientProfiles: ClientProfiles? = nil,
        grants: TenantGrants? = nil
    ) async throws {
        try await project(
            EventEnvelope(
                tenant: id,
                aggregateKey: id,
                aggregateVersion: version,
                payload: TenantUpdated(
                    tenantId: id,
                    displayName: "Tenant \(id)",
                    hosts: ["\(id).example"],
                    authMode: "oauth",
                    disabled: disabled,
                    accessTokenSeconds: accessSeconds,
                    refreshTokenSeconds: refreshSeconds,
                    freshUpstreamProfile: freshUpstreamProfile,
                    clientProfiles: clientProfiles,
                    grants: grants
                )
            )
        )
    }

    package struct Client: Sendable {
        package var id: String
        package var secret: String?
        package var method: String
        package var grantTypes: [String]

        package init(id: String, secret: String?, method: String, grantTypes: [String]) {
            self.id = id
            self.secret = secret
            self.method = method
            self.grantTypes = grantTypes
        }

        /// The same client presenting other credentials.
        package func presenting(method: String? = nil, secret: String?) -> Client {
            Client(id: id, secret: secret, method: method ?? self.method, grantTypes: grantTypes)
        }

        var binding: CodeBinding.Client { .init(tokenEndpointAuthMethod: method, secretHash: secret.map(SecretHash.of), grantTypes: grantTypes) }
    }

    /// A client as the gateway registers it; projected unless `project` is false (its
    /// `client.registered` still on its way).
    package func client(
        tenant: String = "acme",
        method: String = "none",
        grantTypes: [String] = ["authorization_code", "refresh_token"],
        project: Bool = true
    ) async throws -> Client {
        let client = Client(
            id: SecretGenerator.generate(prefix: "mcp_client_", bytes: 16),
            secret: method == "none" ? nil : SecretGenerator.generate(prefix: "mcp_secret_"),
            method: method,
            grantTypes: grantTypes
        )
        if project { try await announce(client, tenant: tenant, applicationType: "native", redirectUris: [Self.redirect]) }
        return client
    }

    /// A client the operator registered for client credentials (as the gateway announces it):
    /// with a secret for `client_secret_basic`, or with `keys` for `private_key_jwt`.
    package func serviceClient(
        tenant: String = "acme",
        method: String = "client_secret_basic",
        scope: String = "mcp:tools",
        keys: ClientKeySet? = nil,
        grantTypes: [String] = ["client_credentials"]
    ) async throws -> Client {
        let client = Client(
            id: SecretGenerator.generate(prefix: "mcp_client_", bytes: 16),
            secret: method == "private_key_jwt" ? nil : SecretGenerator.generate(prefix: "mcp_secret_"),
            method: method,
            grantTypes: grantTypes
        )
        try await announce(client, tenant: tenant, applicationType: "service", redirectUris: [], scope: scope, keys: keys)
        return client
    }

    /// Projects `client.registered` for `client` (its secret as a hash).
    private func announce(
        _ client: Client,
        tenant: String,
        applicationType: String,
        redirectUris: [String],
        scope: String? = nil,
        keys: ClientKeySet? = nil
    ) async throws {
        try await project(
            EventEnvelope(
                tenant: tenant,
                aggregateKey: client.id,
                aggregateVersion: 1,
                payload: ClientRegistered(
                    clientId: client.id,
                    clientName: "Test",
                    applicationType: applicationType,
                    redirectUris: redirectUris,
                    grantTypes: client.grantTypes,
                    responseTypes: redirectUris.isEmpty ? [] : ["code"],
                    tokenEndpointAuthMethod: client.method,
                    scope: scope,
                    clientSecretHash: client.secret.map(SecretHash.of),
                    metadataDocumentUrl: nil,
                    jwks: keys
                )
            )
        )
    }

    /// A code as the gateway's callback seals it.
    package static func code(
        for client: Client,
        tenant: String = "acme",
        subject: String = "42",
        scopes: [String] = ["mcp:tools", "email", "profile"],
        challenge: String? = PKCE.challenge(for: verifier),
        issuedAt: Date = Date(),
        email: String = "ada@example.org"
    ) throws -> String {
        let issuer = "https://idp.example"
        let binding = CodeBinding(
            tenant: tenant,
            clientId: client.id,
            client: client.binding,
            redirectUri: redirect,
            codeChallenge: challenge ?? "",
            resource: "https://\(tenant).example/mcp",
            scopes: scopes,
            userId: UserID.derive(tenant: tenant, issuer: issuer, subject: subject),
            identity: .init(issuer: issuer, subject: subject, email: email, emailVerified: true, name: "Ada"),
            issuedAt: issuedAt,
            lifetime: SealedCode.maximumLifetime
        )
        return try SealedCode.seal(binding, keyRing: keyRing)
    }

    package func count(_ table: String) async throws -> Int64 {
        try await client.rowCount(of: table, in: schema)
    }

    package func outboxTypes() async throws -> [String] {
        let rows = try await client.query("SELECT event_type FROM tokens.outbox ORDER BY id")
        var types: [String] = []
        for try await type in rows.decode(String.self) { types.append(type) }
        return types
    }
}

/// Form requests against the token service.
extension TestClientProtocol {
    /// Redeems a fresh code of `client`: its (access token, refresh token).
    package func tokens(_ client: TokenFixture.Client) async throws -> (access: String, refresh: String) {
        let json = try await redeem(try TokenFixture.code(for: client), client: client).json
        guard let access = json["access_token"] as? String, let refresh = json["refresh_token"] as? String else {
            throw TestSupportError("the code was not redeemed: \(json)")
        }
        return (access, refresh)
    }

    package func form(
        _ path: String,
        _ fields: [(String, String)],
        host: String = "acme.example",
        headers: HTTPFields = [:]
    ) async throws -> HTTPResult {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/x-www-form-urlencoded" }
        headers[HTTPField.Name("X-Forwarded-Host")!] = host
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: FormBody.encode(fields))) { response in
            HTTPResult(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
    }

    /// Redeems a code as the fixture's client would.
    package func redeem(
        _ code: String,
        client: TokenFixture.Client,
        verifier: String? = TokenFixture.verifier,
        redirect: String = TokenFixture.redirect,
        extra: [(String, String)] = [],
        host: String = "acme.example"
    ) async throws -> HTTPResult {
        var fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)]
        if let verifier { fields.append(("code_verifier", verifier)) }
        return try await form("/oauth/token", fields + extra + credentials(client), host: host, headers: basic(client))
    }

    package func refresh(
        _ token: String,
        client: TokenFixture.Client,
        scope: String? = nil,
        extra: [(String, String)] = []
    ) async throws -> HTTPResult {
        var fields = [("grant_type", "refresh_token"), ("refresh_token", token)]
        if let scope { fields.append(("scope", scope)) }
        return try await form("/oauth/token", fields + extra + credentials(client), headers: basic(client))
    }

    package func introspect(_ token: String, host: String = "acme.example") async throws -> HTTPResult {
        try await form(
            "/oauth/introspect",
            [("token", token)],
            host: host,
            headers: [
                .authorization: "Basic "
                    + Data("\(TokenFixture.resourceServer.id):\(TokenFixture.resourceServer.secret)".utf8)
                    .base64EncodedString()
            ]
        )
    }

    package func credentials(_ client: TokenFixture.Client) -> [(String, String)] {
        switch client.method {
        case "client_secret_post": [("client_id", client.id), ("client_secret", client.secret ?? "")]
        case "client_secret_basic": []
        default: [("client_id", client.id)]
        }
    }

    package func basic(_ client: TokenFixture.Client) -> HTTPFields {
        guard client.method == "client_secret_basic", let secret = client.secret else { return [:] }
        return [.authorization: "Basic " + Data("\(client.id):\(secret)".utf8).base64EncodedString()]
    }
}
