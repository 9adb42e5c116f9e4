import Foundation
import GatehouseEvents
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import MCPToolHost
import PostgresNIO
import Testing

@Suite("Tool host: upgrades")
struct ToolHostUpgradeTests {
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
}
