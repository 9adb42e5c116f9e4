import AsyncHTTPClient
import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO

/// A migrated gateway schema and the gateway's routes on a live loopback server. Requests name
/// their tenant host with `X-Forwarded-Host`, trusted from 127.0.0.1 as from a front proxy.
package struct GatewayFixture: Sendable {
    package static let operatorToken = "gateway-test-operator-token-0123456789"
    package let client: PostgresClient
    package let settings: PostgresSettings
    package let logger: Logger
    package let configuration: GatewayConfiguration
    package let parts: GatewayService.Parts
    package let schema = GatewayService.definition.schema

    package static func run<T: Sendable>(
        trustProxy: Bool = true,
        registrationsPerMinute: Int = 1000,
        internalToken: String? = nil,
        allowLoopbackMetadataDocuments: Bool = false,
        publicScheme: String = "https",
        _ body: (GatewayFixture) async throws -> T
    ) async throws -> T {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "gateway")
        let logger = testLogger()
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let configuration = GatewayConfiguration(
            keyRing: try KeyRing(keys: ["k1": Array(repeating: 7, count: 32)], current: "k1"),
            publicScheme: publicScheme,
            trustedProxies: trustProxy ? [IPNetwork("127.0.0.1")!] : [],
            allowInsecureUpstream: true,
            registration: RegistrationPolicy(perMinutePerAddress: registrationsPerMinute, unusedClientLifetimeDays: 30),
            internalToken: internalToken.map(OperatorToken.init),
            allowLoopbackMetadataDocuments: allowLoopbackMetadataDocuments
        )
        let fixture = GatewayFixture(
            client: client,
            settings: settings,
            logger: logger,
            configuration: configuration,
            parts: GatewayService.Parts(
                postgres: client,
                logger: logger,
                configuration: configuration,
                directoryMaximumAge: .zero
            )
        )
        do {
            let result = try await client.whileRunning {
                try await GatewayService.definition.migrator.migrate(client: client, logger: logger)
                return try await body(fixture)
            }
            try await fixture.parts.upstream.http.shutdown()
            return result
        } catch {
            try? await fixture.parts.upstream.http.shutdown()
            throw error
        }
    }

    package func application() -> some ApplicationProtocol {
        let router = Router(context: GatehouseRequestContext.self)
        GatewayService.addRoutes(to: router, parts: parts, configuration: configuration, operatorToken: OperatorToken(Self.operatorToken))
        return Application(router: router)
    }

    /// Creates a tenant through the store (the admin API has its own tests).
    @discardableResult
    package func tenant(
        _ id: String,
        hosts: [String]? = nil,
        authMode: Tenant.AuthMode = .oauth,
        upstream: TenantInput.UpstreamInput? = nil
    ) async throws -> Tenant {
        try await parts.tenants.create(
            TenantInput(
                id: id,
                displayName: "Tenant \(id)",
                hosts: hosts ?? ["\(id).example"],
                authMode: authMode,
                emailLinking: nil,
                upstream: upstream ?? .init(kind: .oidc, issuer: "https://idp.example/\(id)", clientId: "upstream-\(id)"),
                clientSecret: "upstream-secret-\(id)",
                disabled: nil
            )
        )
    }

    package func count(_ table: String) async throws -> Int64 {
        try await client.rowCount(of: table, in: schema)
    }

    /// The types of the events in the outbox, oldest first.
    package func eventTypes() async throws -> [String] {
        let rows = try await client.query("SELECT event_type FROM gateway.outbox ORDER BY id")
        var types: [String] = []
        for try await type in rows.decode(String.self) { types.append(type) }
        return types
    }
}

/// A response read whole: status, headers and the body as JSON (if it is).
package struct HTTPResult: @unchecked Sendable {
    package var status: HTTPResponse.Status
    package var headers: HTTPFields
    package var body: String

    package init(status: HTTPResponse.Status, headers: HTTPFields, body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
    /// The answer a service gives when storage did not answer within its deadline: 503
    /// `temporarily_unavailable` with Retry-After, which a client meets by trying again later.
    package var isTemporarilyUnavailable: Bool {
        status == .serviceUnavailable && headers[.retryAfter] != nil && json["error"] as? String == "temporarily_unavailable"
    }
}

extension TestClientProtocol {
    package func send(
        _ uri: String,
        method: HTTPRequest.Method = .get,
        host: String? = nil,
        headers: HTTPFields = [:],
        json: String? = nil,
        token: String? = nil
    ) async throws -> HTTPResult {
        var headers = headers
        if let host { headers[HTTPField.Name("X-Forwarded-Host")!] = host }
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { response in
            HTTPResult(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
    }
}
