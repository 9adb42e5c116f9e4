import Foundation
import GatehouseEvents
import GatehousePostgres
import GatehouseTestSupport
import PostgresNIO
import Testing

@Suite("Identifiers")
struct IdentifierTests {
    struct Carrier: Codable, Equatable {
        var tenant: TenantID
        var user: UserID?
    }

    @Test("An id is its plain string in JSON, in text and in SQL")
    func plainString() async throws {
        let carrier = Carrier(tenant: "acme", user: UserID("usr_abc"))
        let json = String(decoding: try EventCodec.encoder().encode(carrier), as: UTF8.self)
        #expect(json == #"{"tenant":"acme","user":"usr_abc"}"#)
        #expect(try EventCodec.decoder().decode(Carrier.self, from: Data(json.utf8)) == carrier)
        #expect("\(carrier.tenant)" == "acme" && carrier.tenant.rawValue == "acme")
        #expect(TenantID("a") < TenantID("b"))

        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "identifiers")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: testLogger())
        try await client.whileRunning {
            let tenant: TenantID = "acme"
            let rows = try await client.query("SELECT \(tenant)::text, \(tenant)::text = 'acme'", logger: testLogger())
            for try await (read, equal) in rows.decode((TenantID, Bool).self) {
                #expect(read == tenant && equal)
            }
        }
    }
}
