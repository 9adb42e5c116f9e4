import GatehouseMessaging
import GatehousePostgres
import GatehouseTestSupport
import Logging
import PostgresNIO
import Testing

@Suite("Migrations")
struct MigratorTests {
    @Test("Migrations apply once, in version order; running again, even concurrently, applies nothing")
    func idempotent() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "migrate")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: testLogger())
        let schema = try SchemaName("svc")
        let migrator = Migrator(
            schema: schema,
            migrations: [
                MessagingMigrations.inbox(version: 2),
                MessagingMigrations.outbox(version: 1),
                Migration(version: 3, name: "extra", statements: ["CREATE TABLE {schema}.extra (id INT PRIMARY KEY)"]),
            ]
        )
        try await client.whileRunning {
            #expect(try await migrator.migrate(client: client, logger: testLogger()) == [1, 2, 3])
            let again = try await withThrowingTaskGroup(of: [Int].self) { runs in
                for _ in 0..<4 { runs.addTask { try await migrator.migrate(client: client, logger: testLogger()) } }
                return try await runs.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(again.isEmpty)
            let rows = try await client.query("SELECT version FROM svc.schema_migrations ORDER BY version")
            var versions: [Int] = []
            for try await version in rows.decode(Int.self) { versions.append(version) }
            #expect(versions == [1, 2, 3])
            let lanes = try await client.query("SELECT count(*) FROM svc.outbox_lanes")
            for try await count in lanes.decode(Int.self) { #expect(count == MessagingMigrations.laneCount) }
        }
    }
}
