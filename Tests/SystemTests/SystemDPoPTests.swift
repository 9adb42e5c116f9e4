import Foundation
import GatehouseTestSupport
import PostgresNIO
import Testing

/// DPoP across instances, services as processes behind the TLS front door: a token bound at
/// one token service, its proof accepted by one tool host and refused as a replay by the other.
@Suite("System: DPoP across instances")
struct SystemDPoPTests {
    @Test("A bound token with a proof is served by one tool host; the same proof at the other is a replay; as Bearer it is refused")
    func replayAtAnotherInstance() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "dpop")
        let github = FakeGitHub()
        try await github.run { upstream in
            let platform = try await Platform.start(database: database, kafka: broker.bootstrapServers, instances: 2)
            do {
                let origin = platform.frontDoor.origin
                try await platform.createTenant(upstream: github.app(at: upstream))
                try await platform.updateTenant(#"{"grants": {"client_credentials": true, "dpop": true}}"#)
                let registered = try await platform.registerServiceClient(#"{"client_name": "Agent"}"#)
                let clientId = try #require(registered["client_id"] as? String)
                let secret = try #require(registered["client_secret"] as? String)
                let basic = "Basic " + Data("\(clientId):\(secret)".utf8).base64EncodedString()
                let key = DPoPKey()
                let forwarded = [("X-Forwarded-Host", platform.frontDoor.host), ("X-Forwarded-Proto", "https")]
                try await PlatformClient.with { http in
                    // Both tool hosts (and token services) know the setting and the client.
                    var token = ""
                    try await eventually("a bound token is served by both tool hosts", timeout: .seconds(30), interval: .milliseconds(300)) {
                        let issued = try await http.send(
                            "POST",
                            origin + "/oauth/token",
                            body: "grant_type=client_credentials",
                            contentType: "application/x-www-form-urlencoded",
                            headers: [("Authorization", basic), ("DPoP", key.proof("POST", origin + "/oauth/token"))]
                        )
                        guard issued.status == 200, issued.body.contains(#""token_type":"DPoP""#),
                            let json = try JSONSerialization.jsonObject(with: Data(issued.body.utf8)) as? [String: Any],
                            let access = json["access_token"] as? String
                        else { return false }
                        token = access
                        for toolHost in platform.toolHosts {
                            let answer = try await Self.call(http, toolHost.base + "/mcp", token: token, key: key, origin: origin, extra: forwarded)
                            if answer.status != 200 { return false }
                        }
                        return true
                    }

                    let proof = key.proof("POST", origin + "/mcp", token: token)
                    let first = try await Self.call(http, platform.toolHosts[0].base + "/mcp", token: token, proof: proof, extra: forwarded)
                    #expect(first.status == 200 && first.body.contains("service principal"), "\(first.body)")
                    let replayed = try await Self.call(http, platform.toolHosts[1].base + "/mcp", token: token, proof: proof, extra: forwarded)
                    #expect(replayed.status == 401 && replayed.body.contains("invalid_dpop_proof"), "\(replayed.body)")

                    let fresh = try await Self.call(http, origin + "/mcp", token: token, key: key, origin: origin)
                    #expect(fresh.status == 200, "\(fresh.body)")
                    let asBearer = try await http.callTool(OAuthEndpoints(origin: origin), token: token, tool: "whoami")
                    #expect(asBearer.status == 401 && asBearer.body.contains("invalid_token"), "\(asBearer.body)")
                }
                await platform.stop()
            } catch {
                print(platform.report())
                await platform.stop()
                throw error
            }
        }
        await broker.process.killHard()
    }

    /// `tools/call` of whoami with `Authorization: DPoP` and a proof (a fresh one of `key` for
    /// `origin`'s /mcp, unless `proof` is given).
    static func call(
        _ http: PlatformClient,
        _ url: String,
        token: String,
        key: DPoPKey? = nil,
        origin: String? = nil,
        proof: String? = nil,
        extra: [(String, String)] = []
    ) async throws -> PlatformClient.Reply {
        let presented = proof ?? key!.proof("POST", origin! + "/mcp", token: token)
        return try await http.send(
            "POST",
            url,
            body: PlatformClient.toolCallBody("whoami"),
            contentType: "application/json",
            headers: [
                ("Authorization", "DPoP \(token)"), ("DPoP", presented), ("Accept", "application/json, text/event-stream"),
                ("MCP-Protocol-Version", "2025-06-18"),
            ] + extra
        )
    }
}
