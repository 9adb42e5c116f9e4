import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import Logging
import PostgresNIO
import ServiceLifecycle

/// The gateway's housekeeping, every `interval`: disables registrations that were never used
/// (no code was ever issued to them) once their `expires_at` passes, announcing each with
/// `client.updated` (disabled) in the same transaction so the token service stops accepting
/// them too; and deletes authorization requests past their expiry, which nothing can use any
/// more. Any number of gateway instances may run it (rows are locked with SKIP LOCKED).
package struct ExpirySweeper: Service {
    package let client: PostgresClient
    package let schema: SchemaName
    package let interval: Duration
    package let logger: Logger

    package init(client: PostgresClient, schema: SchemaName, interval: Duration = .seconds(300), logger: Logger) {
        self.client = client
        self.schema = schema
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        // Stops at graceful shutdown: the sleep (or a sweep) is cancelled, and the loop ends.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let expired = try await expireUnusedClients()
                    if expired > 0 { logger.notice("Unused client registrations expired", metadata: ["count": "\(expired)"]) }
                    let deleted = try await deleteExpiredAuthorizationRequests()
                    if deleted > 0 { logger.info("Expired authorization requests deleted", metadata: ["count": "\(deleted)"]) }
                } catch {
                    logger.warning("Expiry sweep failed", metadata: ["error": "\(PostgresFailure.describe(error))"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One pass over the clients; returns how many it disabled.
    @discardableResult
    package func expireUnusedClients(limit: Int = 500) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE \(schema).clients SET disabled = true
                WHERE client_id IN (
                    SELECT client_id FROM \(schema).clients
                    WHERE NOT disabled AND expires_at IS NOT NULL AND expires_at < now()
                    ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING tenant_id, client_id, client_name, application_type, redirect_uris, grant_types, response_types,
                          token_endpoint_auth_method, scope, client_secret_hash
                """,
                logger: logger
            )
            var records: [OutboxRecord] = []
            for try await row in rows.decode((String, String, String?, String, [String], [String], [String], String, String?, String?).self) {
                let (tenant, clientId, name, type, redirects, grants, responses, method, scope, secretHash) = row
                let registered = ClientRegistered(
                    clientId: clientId,
                    clientName: name,
                    applicationType: type,
                    redirectUris: redirects,
                    grantTypes: grants,
                    responseTypes: responses,
                    tokenEndpointAuthMethod: method,
                    scope: scope,
                    clientSecretHash: secretHash,
                    metadataDocumentUrl: nil
                )
                // A client's aggregate: version 1 is its registration, version 2 its expiry (its only change so far).
                records.append(
                    try OutboxRecord(
                        EventEnvelope(
                            tenant: tenant,
                            aggregateKey: clientId,
                            aggregateVersion: 2,
                            payload: ClientUpdated(client: registered, disabled: true)
                        )
                    )
                )
            }
            try await OutboxWriter(schema: schema).append(records, on: connection, logger: logger)
            return records.count
        }
    }

    /// One pass over the authorization requests; returns how many expired ones it deleted.
    @discardableResult
    package func deleteExpiredAuthorizationRequests(limit: Int = 1000) async throws -> Int {
        let rows = try await client.query(
            """
            DELETE FROM \(schema).authorization_requests WHERE id IN (
                SELECT id FROM \(schema).authorization_requests
                WHERE expires_at < now() ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            logger: logger
        )
        var deleted = 0
        for try await _ in rows.decode(String.self) { deleted += 1 }
        return deleted
    }
}
