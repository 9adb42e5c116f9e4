import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// The token service's consumer: keeps its projections of tenants (`tenant.updated`, in the
/// shape every service shares: `TenantProjection`), clients
/// (`client.registered`, `client.updated`), users (`user.upserted`) and the code ledger
/// (`code.issued`). Each row keeps the highest aggregate version it has seen, so duplicates,
/// replays and reordering cannot move it backwards.
package struct TokenProjections: EventHandler {
    package static let defaultConsumerName = "token-service"

    package let consumerName: String
    package let schema: SchemaName
    package let topics: [String]

    package init(
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

    package func handles(_ header: EventHeader) -> Bool { Self.handled.contains(header.type) }

    package func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
        let s = schema
        let header = event.header
        let query: PostgresQuery
        switch header.type {
        case TenantProjection.eventType:
            return try await TenantProjection.apply(event, schema: s, on: connection, logger: logger)
        case ClientRegistered.eventType.name, ClientUpdated.eventType.name:
            let (client, disabled) =
                header.type == ClientRegistered.eventType.name
                ? (try event.decode(ClientRegistered.self).payload, false)
                : try {
                    let update = try event.decode(ClientUpdated.self).payload
                    return (update.client, update.disabled)
                }()
            query = """
                INSERT INTO \(s).clients AS c (client_id, tenant_id, version, token_endpoint_auth_method, client_secret_hash, grant_types, disabled,
                    scope, jwks)
                VALUES (\(client.clientId), \(header.tenant), \(header.aggregateVersion), \(client.tokenEndpointAuthMethod),
                    \(client.clientSecretHash), \(client.grantTypes), \(disabled), \(client.scope), \(try Self.json(client.jwks))::jsonb)
                ON CONFLICT (client_id) DO UPDATE SET version = EXCLUDED.version,
                    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, client_secret_hash = EXCLUDED.client_secret_hash,
                    grant_types = EXCLUDED.grant_types, disabled = EXCLUDED.disabled, scope = EXCLUDED.scope, jwks = EXCLUDED.jwks
                WHERE c.version < EXCLUDED.version AND c.tenant_id = EXCLUDED.tenant_id
                """
        case UserUpserted.eventType.name:
            let user = try event.decode(UserUpserted.self).payload
            query = """
                INSERT INTO \(s).users AS u (user_id, tenant_id, version, email, email_verified, name)
                VALUES (\(user.userId), \(header.tenant), \(header.aggregateVersion), \(user.email), \(user.emailVerified), \(user.name))
                ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version, email = EXCLUDED.email,
                    email_verified = EXCLUDED.email_verified, name = EXCLUDED.name
                WHERE u.version < EXCLUDED.version
                """
        case CodeIssued.eventType.name:
            let code = try event.decode(CodeIssued.self).payload
            query = """
                INSERT INTO \(s).code_ledger (code_hash, tenant_id, client_id, user_id, issued_at, expires_at)
                VALUES (\(code.codeHash), \(header.tenant), \(code.clientId), \(code.userId), \(code.issuedAt), \(code.expiresAt))
                ON CONFLICT (code_hash) DO NOTHING
                """
        default:
            return
        }
        try await connection.query(query, logger: logger)
    }

    static func json(_ keys: ClientKeySet?) throws -> String? {
        try keys.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
    }
}
