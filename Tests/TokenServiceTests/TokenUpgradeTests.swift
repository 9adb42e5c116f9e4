import Foundation
import GatehouseEvents
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import PostgresNIO
import Testing
import TokenService

@Suite("Token service: upgrades")
struct TokenUpgradeTests {
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
}
