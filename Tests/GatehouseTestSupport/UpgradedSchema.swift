import Foundation
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// Migrates a fresh database up to (not including) `version`, writes `rows` the way the
/// earlier projection did, applies the rest, and runs `body`.
public func withUpgradedSchema(
    _ definition: ServiceDefinition,
    before version: Int,
    rows: PostgresQuery,
    body: (PostgresClient, Logger) async throws -> Void
) async throws {
    let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
    let settings = try await postgres.makeDatabase(named: "upgrade_\(definition.schema.name)")
    let logger = testLogger()
    let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
    try await client.whileRunning {
        let earlier = Migrator(schema: definition.schema, migrations: definition.migrations.filter { $0.version < version })
        try await earlier.migrate(client: client, logger: logger)
        try await client.query(rows, logger: logger)
        let applied = try await Migrator(schema: definition.schema, migrations: definition.migrations).migrate(client: client, logger: logger)
        guard applied.contains(version) else { throw TestSupportError("migration \(version) of \(definition.name) was not applied") }
        try await body(client, logger)
    }
}
