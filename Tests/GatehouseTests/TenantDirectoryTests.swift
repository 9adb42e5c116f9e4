import Foundation
import GatehouseEvents
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import MCPToolHost
import PostgresNIO
import Synchronization
import Testing
import TokenService

/// A directory source that answers from a script and remembers the positions it was asked from.
private final class ScriptedChanges: Sendable {
    private let state = Mutex<(script: [DirectoryChanges<String>], asked: [String?])>(([], []))

    init(_ script: [DirectoryChanges<String>]) {
        state.withLock { $0.script = script }
    }

    func next(since position: String?) -> DirectoryChanges<String> {
        state.withLock { state in
            state.asked.append(position)
            return state.script.isEmpty ? DirectoryChanges(changes: [], position: position ?? "") : state.script.removeFirst()
        }
    }

    var asked: [String?] { state.withLock { $0.asked } }
}

@Suite("Tenant directory")
struct TenantDirectoryTests {
    private typealias Change = DirectoryChanges<String>.Change

    @Test("The directory loads once, then applies only what changed: new, moved and disabled tenants")
    func appliesChanges() async throws {
        let source = ScriptedChanges([
            DirectoryChanges(
                changes: [Change(id: "a", hosts: ["A.test", "shared.test"], record: "a1"), Change(id: "b", hosts: ["b.test"], record: "b1")],
                position: "10"
            ),
            // "a" gives shared.test to "c" (listed first, so the release must not depend on order)
            // and "b" is disabled.
            DirectoryChanges(
                changes: [
                    Change(id: "c", hosts: ["shared.test"], record: "c1"), Change(id: "a", hosts: ["a.test"], record: "a2"),
                    Change(id: "b", hosts: ["b.test"], record: nil),
                ],
                position: "12"
            ),
            // "c" is read again (its writer was still running at the last read): nothing moves.
            DirectoryChanges(changes: [Change(id: "c", hosts: ["shared.test"], record: "c1")], position: "13"),
        ])
        let directory = HostDirectory<String>(maximumAge: .zero) { source.next(since: $0) }

        #expect(try await directory.record(forHost: "a.test") == "a1")
        #expect(try await directory.record(forHost: "shared.test") == "c1")
        #expect(try await directory.record(forHost: "A.TEST") == "a2")
        #expect(try await directory.record(forHost: "b.test") == nil)
        #expect(try await directory.record(forHost: "shared.test") == "c1")
        #expect(try await directory.record(forHost: "unknown.test") == nil)
        #expect(source.asked == [nil, "10", "12", "13", "13", "13"])
    }

    @Test("A fresh directory answers from memory without asking its source")
    func answersFromMemoryWhileFresh() async throws {
        let source = ScriptedChanges([DirectoryChanges(changes: [Change(id: "a", hosts: ["a.test"], record: "a1")], position: "1")])
        let directory = HostDirectory<String>(maximumAge: .seconds(3600)) { source.next(since: $0) }
        #expect(directory.cachedRecord(forHost: "a.test") == nil, "nothing is known before the first read")
        #expect(try await directory.record(forHost: "a.test") == "a1")
        #expect(directory.cachedRecord(forHost: "a.test") == .some("a1"))
        #expect(directory.cachedRecord(forHost: "b.test") == .some(nil))
        #expect(try await directory.record(forHost: "b.test") == nil)
        #expect(source.asked == [nil])
        await directory.invalidate()
        _ = try await directory.record(forHost: "a.test")
        #expect(source.asked == [nil, "1"])
    }

    @Test("The write watermark finds a write whose transaction commits after a later one was read")
    func watermarkSeesLateCommits() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "watermark")
        let logger = testLogger()
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        try await client.whileRunning {
            try await client.query("CREATE TABLE rows (id TEXT PRIMARY KEY, \(unescaped: WriteWatermark.columnDefinition))", logger: logger)
            func written(since watermark: WriteWatermark?) async throws -> Set<String> {
                let rows = try await client.query("SELECT id FROM rows t WHERE \(writtenSince: watermark, alias: "t")", logger: logger)
                return try await rows.decode(String.self).reduce(into: []) { $0.insert($1) }
            }
            var watermark: WriteWatermark?
            try await client.withTransaction(logger: logger) { early in
                // The early transaction writes first and commits last.
                try await early.query("INSERT INTO rows (id) VALUES ('early')", logger: logger)
                try await client.query("INSERT INTO rows (id) VALUES ('late')", logger: logger)
                let mark = try await WriteWatermark.current(client: client, logger: logger)
                #expect(try await written(since: nil) == ["late"])
                watermark = mark
            }
            #expect(try await written(since: watermark).contains("early"), "the late commit is read after the watermark")
            let afterBoth = try await WriteWatermark.current(client: client, logger: logger)
            try await client.query("UPDATE rows SET written_by = pg_current_xact_id() WHERE id = 'late'", logger: logger)
            #expect(try await written(since: afterBoth).contains("late"), "a row written again is read again")
        }
    }

    @Test("Upgrading the tool host keeps its projected tenants, each read as before")
    func toolHostUpgradeKeepsTenants() async throws {
        let mcp = MCPEndpointSettings(mode: .proxy, upstreamUrl: "https://mcp.acme.test/mcp", timeoutSeconds: 12, hideUnauthorizedTools: true)
        let mcpJSON = String(decoding: try EventCodec.encoder().encode(mcp), as: UTF8.self)
        let schema = ToolHostService.definition.schema
        let rows: PostgresQuery =
            """
            INSERT INTO \(schema).tenants (id, version, display_name, hosts, auth_mode, disabled, mcp) VALUES
                ('acme', 3, 'Acme', '{acme.test,mcp.acme.test}', 'none', false, \(mcpJSON)::jsonb),
                ('plain', 1, 'Plain', '{plain.test}', 'oauth', false, NULL),
                ('gone', 2, 'Gone', '{gone.test}', 'oauth', true, NULL)
            """
        try await withUpgradedSchema(ToolHostService.definition, before: 6, rows: rows) { client, logger in
            let store = ToolHostStore(client: client, logger: logger)
            let changes = try await store.tenantChanges(since: nil)
            let byId = Dictionary(uniqueKeysWithValues: changes.changes.map { ($0.id, $0) })
            #expect(byId["acme"]?.record == ToolTenant(id: "acme", displayName: "Acme", authMode: .none, mcp: mcp))
            #expect(byId["acme"]?.hosts.sorted() == ["acme.test", "mcp.acme.test"])
            #expect(byId["plain"]?.record == ToolTenant(id: "plain", displayName: "Plain", authMode: .oauth))
            #expect(byId["gone"] != nil && byId["gone"]?.record == nil, "a disabled tenant is listed, to be taken out")
        }
    }

    @Test("Upgrading the token service keeps its projected tenants, client profiles included")
    func tokenServiceUpgradeKeepsTenants() async throws {
        let profiles = ClientProfiles(
            defaults: ClientProfile(refreshGraceSeconds: 30),
            overrides: [ClientProfileOverride(documentDomain: "app.example", profile: ClientProfile(accessTokenSeconds: 120))]
        )
        let profilesJSON = String(decoding: try JSONBody.encoder().encode(profiles), as: UTF8.self)
        let schema = TokenServiceService.definition.schema
        let rows: PostgresQuery =
            """
            INSERT INTO \(schema).tenants (id, version, display_name, hosts, auth_mode, disabled, access_token_seconds,
                refresh_token_seconds, fresh_upstream_profile, client_profiles) VALUES
                ('acme', 4, 'Acme', '{acme.test}', 'oauth', false, 600, 86400, true, \(profilesJSON)::jsonb)
            """
        try await withUpgradedSchema(TokenServiceService.definition, before: 7, rows: rows) { client, logger in
            let store = TokenStore(client: client, logger: logger)
            let changes = try await store.tenantChanges(since: nil)
            #expect(changes.changes.count == 1)
            let tenant = try #require(changes.changes.first?.record)
            #expect(tenant.id == "acme")
            #expect(tenant.accessTokenSeconds == 600 && tenant.refreshTokenSeconds == 86400 && tenant.freshUpstreamProfile)
            #expect(tenant.clientProfiles == profiles)
        }
    }

    /// Migrates a fresh database up to (not including) `version`, writes `rows` the way the
    /// earlier projection did, applies the rest, and runs `body`.
    private func withUpgradedSchema(
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
            #expect(applied.contains(version))
            try await body(client, logger)
        }
    }
}
