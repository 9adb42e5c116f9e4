import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// A registered client as the admin API lists it (never its secret or the secret's hash).
package struct RegisteredClient: Codable, Sendable, Equatable {
    package var clientId: String
    package var tenant: String
    package var metadata: ClientMetadata
    package var createdAt: Date
    package var lastUsedAt: Date?
    package var expiresAt: Date?
    package var disabled: Bool
    package var registeredBy: RegisteredBy
    /// A `private_key_jwt` client's public keys.
    package var jwks: ClientKeySet?
}

/// How a client came to be registered.
package enum RegisteredBy: String, Codable, Sendable {
    /// RFC 7591 dynamic registration by the client itself.
    case dynamic
    /// The admin API (client credentials clients).
    case `operator`
}

/// Registered clients in the gateway's schema; each registration is announced with
/// `client.registered` from the same transaction (the token service authenticates clients from
/// that projection).
package struct ClientStore: Sendable {
    package let client: PostgresClient
    package let schema: SchemaName
    package let logger: Logger

    package init(client: PostgresClient, schema: SchemaName, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    /// Stores a validated registration; returns the client id and, for a client authenticating
    /// with a shared secret, the secret (shown this once; only its hash is kept).
    /// `unusedLifetime`: how long the client may go unused before it expires (nil: never, for
    /// clients the operator registered); `keys`: a `private_key_jwt` client's public keys.
    package func register(
        _ metadata: ClientMetadata,
        tenant: String,
        from address: String?,
        unusedLifetime: Duration?,
        keys: ClientKeySet? = nil,
        registeredBy: RegisteredBy = .dynamic
    ) async throws -> (clientId: String, secret: String?, issuedAt: Date) {
        let clientId = SecretGenerator.generate(prefix: "mcp_client_", bytes: 16)
        let usesSecret = metadata.isConfidential && metadata.tokenEndpointAuthMethod != "private_key_jwt"
        let secret = usesSecret ? SecretGenerator.generate(prefix: "mcp_secret_") : nil
        let secretHash = secret.map(SecretHash.of)
        let issuedAt = Date()
        let event = EventEnvelope(
            tenant: tenant,
            aggregateKey: clientId,
            aggregateVersion: 1,
            payload: ClientRegistered(
                clientId: clientId,
                clientName: metadata.clientName,
                applicationType: metadata.applicationType,
                redirectUris: metadata.redirectUris,
                grantTypes: metadata.grantTypes,
                responseTypes: metadata.responseTypes,
                tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
                scope: metadata.scope,
                clientSecretHash: secretHash,
                metadataDocumentUrl: nil,
                jwks: keys
            )
        )
        let document = String(decoding: try JSONBody.encoder().encode(metadata), as: UTF8.self)
        let expiresAt = unusedLifetime.map { issuedAt.addingTimeInterval($0 / .seconds(1)) }
        let jwks = try keys.map { String(decoding: try JSONBody.encoder().encode($0), as: UTF8.self) }
        let announcement = OutboxWriter(schema: schema).insert([try OutboxRecord(event)], when: "registered")
        // One statement writes the client and its event: atomic without a transaction's extra round trips.
        try await client.query(
            """
            WITH registered AS (
                INSERT INTO \(schema).clients (tenant_id, client_id, client_name, application_type, redirect_uris, grant_types,
                    response_types, token_endpoint_auth_method, scope, client_secret_hash, metadata, registered_from, created_at, expires_at,
                    jwks, registered_by)
                VALUES (\(tenant), \(clientId), NULLIF(\(metadata.clientName ?? ""), ''), \(metadata.applicationType), \(metadata.redirectUris),
                    \(metadata.grantTypes), \(metadata.responseTypes), \(metadata.tokenEndpointAuthMethod), NULLIF(\(metadata.scope ?? ""), ''),
                    NULLIF(\(secretHash ?? ""), ''), \(document)::jsonb, NULLIF(\(address ?? ""), ''), \(issuedAt), \(expiresAt),
                    \(jwks)::jsonb, \(registeredBy.rawValue))
                RETURNING client_id
            )
            \(announcement)
            """,
            logger: logger
        )
        return (clientId, secret, issuedAt)
    }

    package func list(tenant: String) async throws -> [RegisteredClient] {
        let rows = try await client.query(
            """
            SELECT client_id, tenant_id, metadata::text, created_at, last_used_at, expires_at, disabled, registered_by, jwks::text
            FROM \(schema).clients WHERE tenant_id = \(tenant) ORDER BY created_at, client_id
            """,
            logger: logger
        )
        let decoder = JSONBody.decoder()
        var clients: [RegisteredClient] = []
        for try await (id, tenant, metadata, created, used, expires, disabled, registeredBy, jwks) in rows.decode(
            (String, String, String, Date, Date?, Date?, Bool, String, String?).self
        ) {
            clients.append(
                RegisteredClient(
                    clientId: id,
                    tenant: tenant,
                    metadata: try decoder.decode(ClientMetadata.self, from: Data(metadata.utf8)),
                    createdAt: created,
                    lastUsedAt: used,
                    expiresAt: expires,
                    disabled: disabled,
                    registeredBy: RegisteredBy(rawValue: registeredBy) ?? .dynamic,
                    jwks: try jwks.map { try decoder.decode(ClientKeySet.self, from: Data($0.utf8)) }
                )
            )
        }
        return clients
    }
}
