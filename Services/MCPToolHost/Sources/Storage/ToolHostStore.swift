import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// A support request as its owner sees it.
package struct SupportRequest: Sendable, Equatable, Codable {
    package var id: String
    package var subject: String
    package var message: String
    package var email: String
    package var status: String
    package var createdAt: Date
}

/// The tool host's state in PostgreSQL: the tenant projection, support requests, and the
/// outbox of `tool.invoked`. Each write is one statement that also writes its events, so a
/// support request and the event of the call that filed it commit together.
package struct ToolHostStore: Sendable {
    package let client: PostgresClient
    package let schema: SchemaName
    package let logger: Logger
    private let outbox: OutboxWriter
    /// Invocation events of calls that changed nothing are written in batches: under load one
    /// INSERT carries the events of every call that finished meanwhile.
    private let invocations: Batcher<OutboxRecord, Bool>
    private let proofs: DPoPReplay

    package init(client: PostgresClient, schema: SchemaName = ToolHostService.definition.schema, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
        let outbox = OutboxWriter(schema: schema)
        self.outbox = outbox
        proofs = DPoPReplay(schema: schema, client: client, logger: logger)
        invocations = Batcher(duplicates: .share, pipeline: 2) { records in
            // Read to its end: the INSERT has completed (and committed) when the stream ends.
            for try await _ in try await client.execute(RecordInvocations(records: records), logger: logger) {}
            return Dictionary(uniqueKeysWithValues: records.map { ($0.eventId.uuidString, true) })
        }
    }

    /// The tenants written since `position` (all of them when it is nil), for the host directory.
    package func tenantChanges(since position: String?) async throws -> DirectoryChanges<ToolTenant> {
        try await TenantProjection.changes(since: position, schema: schema, client: client, logger: logger, decoding: TenantView.self) { id, view in
            ToolTenant(
                id: TenantID(id),
                displayName: view.displayName,
                authMode: ToolTenant.AuthMode(rawValue: view.authMode) ?? .oauth,
                mcp: view.mcp ?? MCPEndpointSettings(),
                grants: view.grants ?? TenantGrants()
            )
        }
    }

    /// What the tool host reads of a projected tenant.
    private struct TenantView: Decodable {
        var displayName: String
        var authMode: String
        var mcp: MCPEndpointSettings?
        var grants: TenantGrants?
    }

    /// Records a DPoP proof's key and `jti` until it leaves the accepted window: false when it
    /// was recorded before, by any instance.
    package func recordProof(thumbprint: String, jti: String, expiresAt: Date) async throws -> Bool {
        try await proofs.record(thumbprint: thumbprint, jti: jti, expiresAt: expiresAt)
    }

    /// Records a call's `tool.invoked` (with the next batch).
    package func record(_ invocation: OutboxRecord) async throws {
        _ = try await invocations.submit(invocation, key: invocation.eventId.uuidString)
    }

    /// Files a support request and the call's `tool.invoked` in one statement; returns its id.
    package func fileSupportRequest(
        by principal: Principal,
        email: String,
        subject: String,
        message: String,
        invocation: OutboxRecord
    ) async throws -> SupportRequest {
        let id = "sr_" + SecretGenerator.generate(prefix: "", bytes: 12)
        let query: PostgresQuery = """
            WITH filed AS (
                INSERT INTO \(schema).support_requests (id, tenant_id, user_id, client_id, email, subject, message)
                VALUES (\(id), \(principal.tenant), \(principal.userId), \(principal.clientId), \(email), \(subject), \(message))
                RETURNING created_at
            ), events AS (
                \(outbox.insert([invocation], when: "filed"))
            )
            SELECT created_at FROM filed
            """
        let rows = try await withDeadline(APIError.infrastructureDeadline) { [client, logger] in
            try await client.query(query, logger: logger)
        }
        for try await createdAt in rows.decode(Date.self) {
            return SupportRequest(id: id, subject: subject, message: message, email: email, status: "open", createdAt: createdAt)
        }
        throw StoreInconsistency("the support request INSERT returned no row")
    }

    /// A user's own requests, newest first.
    package func supportRequests(of userId: UserID, tenant: TenantID, limit: Int = 50) async throws -> [SupportRequest] {
        let rows = try await withDeadline(APIError.infrastructureDeadline) { [client, schema, logger] in
            try await client.query(
                """
                SELECT id, subject, message, email, status, created_at FROM \(schema).support_requests
                WHERE tenant_id = \(tenant) AND user_id = \(userId) ORDER BY created_at DESC, id LIMIT \(limit)
                """,
                logger: logger
            )
        }
        var found: [SupportRequest] = []
        for try await (id, subject, message, email, status, createdAt) in rows.decode((String, String, String, String, String, Date).self) {
            found.append(SupportRequest(id: id, subject: subject, message: message, email: email, status: status, createdAt: createdAt))
        }
        return found
    }
}

/// The batch INSERT of invocation events, prepared once per connection (PostgreSQL would
/// otherwise parse and plan it for every batch).
struct RecordInvocations: PostgresPreparedStatement {
    static let sql = OutboxWriter(schema: ToolHostService.definition.schema).insertSQL(firstParameter: 1)
    typealias Row = ()

    var records: [OutboxRecord]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        OutboxWriter.bind(records, into: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// A statement answered in a way its SQL rules out.
struct StoreInconsistency: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
