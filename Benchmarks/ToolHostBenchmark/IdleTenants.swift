import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import MCPToolHost
import PostgresNIO
import TokenService

/// Tenants that take no load, for measuring the tool host among many: each has a host of its
/// own and reaches the token service's and the tool host's projections the way every tenant
/// does, as `tenant.updated` through their consumers' inbox.
enum IdleTenants {
    static func project(_ count: Int, client: PostgresClient, logger: Logger) async throws {
        let token = InboxProcessor(
            client: client,
            schema: TokenServiceService.definition.schema,
            handler: TokenProjections(schema: TokenServiceService.definition.schema),
            logger: logger
        )
        let toolHost = InboxProcessor(
            client: client,
            schema: ToolHostService.definition.schema,
            handler: ToolHostProjections(schema: ToolHostService.definition.schema),
            logger: logger
        )
        for batch in stride(from: 1, through: count, by: 500) {
            let events = try (batch..<min(batch + 500, count + 1)).map { index in
                let (id, host) = BenchmarkCodes.idleTenant(index)
                return try incomingEvent(BenchmarkCodes.tenantUpdate(id, host: host, displayName: "Idle \(index)"))
            }
            _ = try await token.apply(events)
            _ = try await toolHost.apply(events)
        }
    }

    /// The median time of the tool host directory's full read and of its read of what changed
    /// since (nothing, here), five of each.
    static func directoryReads(_ store: ToolHostStore) async throws -> (full: Duration, changes: Duration, tenants: Int) {
        var full: [Duration] = []
        var changes: [Duration] = []
        var tenants = 0
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let everything = try await store.tenantChanges(since: nil)
            full.append(ContinuousClock.now - start)
            tenants = everything.changes.count
            let since = ContinuousClock.now
            _ = try await store.tenantChanges(since: everything.position)
            changes.append(ContinuousClock.now - since)
        }
        return (full.sorted()[2], changes.sorted()[2], tenants)
    }
}
