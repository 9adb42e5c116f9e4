import Foundation
import Logging
import PostgresNIO

/// One versioned step of a schema's evolution: SQL statements run in order in one transaction.
/// `{schema}` in a statement stands for the quoted schema name.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Applies migrations to one schema. Safe to run from several instances at once: an advisory
/// lock per schema serialises them, and applied versions are recorded.
public struct Migrator: Sendable {
    public let schema: SchemaName
    public let migrations: [Migration]

    public init(schema: SchemaName, migrations: [Migration]) {
        precondition(Set(migrations.map(\.version)).count == migrations.count, "duplicate migration versions")
        self.schema = schema
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [Int] {
        let schema = self.schema
        let migrations = self.migrations
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext(\("gatehouse-migrate:" + schema.name)))",
                logger: logger
            )
            try await connection.query("CREATE SCHEMA IF NOT EXISTS \(schema)", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS \(schema).schema_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query(
                "SELECT version FROM \(schema).schema_migrations",
                logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            var appliedNow: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    let sql = statement.replacingOccurrences(of: "{schema}", with: schema.quoted)
                        .replacingOccurrences(of: "{schema_name}", with: schema.name)
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO \(schema).schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                logger.info(
                    "Applied migration",
                    metadata: ["schema": "\(schema)", "version": "\(migration.version)", "migration": "\(migration.name)"]
                )
                appliedNow.append(migration.version)
            }
            return appliedNow
        }
    }
}
