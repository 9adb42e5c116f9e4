import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// The token service's consumer: keeps its projections of tenants (`tenant.updated`), clients
/// (`client.registered`, `client.updated`), users (`user.upserted`) and the code ledger
/// (`code.issued`). Each row keeps the highest aggregate version it has seen, so duplicates,
/// replays and reordering cannot move it backwards.
public struct TokenProjections: EventHandler {
    public static let defaultConsumerName = "token-service"

    public let consumerName: String
    public let schema: SchemaName
    public let topics: [String]

    public init(
        schema: SchemaName,
        topics: [String] = [Topics.gateway, Topics.users],
        consumerName: String = TokenProjections.defaultConsumerName
    ) {
        self.schema = schema
        self.topics = topics
        self.consumerName = consumerName
    }

    private static let handled: Set<String> = [
        TenantUpdated.eventType.name, ClientRegistered.eventType.name, ClientUpdated.eventType.name,
        UserUpserted.eventType.name, CodeIssued.eventType.name,
    ]

    public func handles(_ header: EventHeader) -> Bool { Self.handled.contains(header.type) }

    public func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
        let s = schema.quoted
        let header = event.header
        var bindings = PostgresBindings()
        let sql: String
        switch header.type {
        case TenantUpdated.eventType.name:
            let tenant = try event.decode(TenantUpdated.self).payload
            guard tenant.tenantId == header.tenant else { throw DeterministicEventError("tenant.updated names another tenant than its envelope") }
            bindings.append(tenant.tenantId)
            bindings.append(header.aggregateVersion)
            bindings.append(tenant.displayName)
            bindings.append(tenant.hosts)
            bindings.append(tenant.authMode)
            bindings.append(tenant.disabled)
            bindings.append(tenant.accessTokenSeconds)
            bindings.append(tenant.refreshTokenSeconds)
            bindings.append(tenant.freshUpstreamProfile)
            bindings.append(try tenant.clientProfiles.map { String(decoding: try JSONBody.encoder().encode($0), as: UTF8.self) })
            sql = """
                INSERT INTO \(s).tenants AS t (id, version, display_name, hosts, auth_mode, disabled, access_token_seconds, refresh_token_seconds,
                                               fresh_upstream_profile, client_profiles)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
                ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, display_name = EXCLUDED.display_name, hosts = EXCLUDED.hosts,
                    auth_mode = EXCLUDED.auth_mode, disabled = EXCLUDED.disabled, access_token_seconds = EXCLUDED.access_token_seconds,
                    refresh_token_seconds = EXCLUDED.refresh_token_seconds, fresh_upstream_profile = EXCLUDED.fresh_upstream_profile,
                    client_profiles = EXCLUDED.client_profiles
                WHERE t.version < EXCLUDED.version
                """
        case ClientRegistered.eventType.name, ClientUpdated.eventType.name:
            let (client, disabled) =
                header.type == ClientRegistered.eventType.name
                ? (try event.decode(ClientRegistered.self).payload, false)
                : try {
                    let update = try event.decode(ClientUpdated.self).payload
                    return (update.client, update.disabled)
                }()
            bindings.append(client.clientId)
            bindings.append(header.tenant)
            bindings.append(header.aggregateVersion)
            bindings.append(client.tokenEndpointAuthMethod)
            bindings.append(client.clientSecretHash)
            bindings.append(client.grantTypes)
            bindings.append(disabled)
            sql = """
                INSERT INTO \(s).clients AS c (client_id, tenant_id, version, token_endpoint_auth_method, client_secret_hash, grant_types, disabled)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (client_id) DO UPDATE SET version = EXCLUDED.version,
                    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, client_secret_hash = EXCLUDED.client_secret_hash,
                    grant_types = EXCLUDED.grant_types, disabled = EXCLUDED.disabled
                WHERE c.version < EXCLUDED.version AND c.tenant_id = EXCLUDED.tenant_id
                """
        case UserUpserted.eventType.name:
            let user = try event.decode(UserUpserted.self).payload
            bindings.append(user.userId)
            bindings.append(header.tenant)
            bindings.append(header.aggregateVersion)
            bindings.append(user.email)
            bindings.append(user.emailVerified)
            bindings.append(user.name)
            sql = """
                INSERT INTO \(s).users AS u (user_id, tenant_id, version, email, email_verified, name) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version, email = EXCLUDED.email,
                    email_verified = EXCLUDED.email_verified, name = EXCLUDED.name
                WHERE u.version < EXCLUDED.version
                """
        case CodeIssued.eventType.name:
            let code = try event.decode(CodeIssued.self).payload
            bindings.append(code.codeHash)
            bindings.append(header.tenant)
            bindings.append(code.clientId)
            bindings.append(code.userId)
            bindings.append(code.issuedAt)
            bindings.append(code.expiresAt)
            sql = """
                INSERT INTO \(s).code_ledger (code_hash, tenant_id, client_id, user_id, issued_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code_hash) DO NOTHING
                """
        default:
            return
        }
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
    }
}
