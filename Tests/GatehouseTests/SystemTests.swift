import Foundation
import GatehouseTestSupport
import PostgresNIO
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The platform as it scales: two instances of every service behind the front door, as
/// separate processes on one database and broker.
@Suite("System: two instances of every service", .serialized)
struct SystemTests {
    @Test("Logins, refreshes and tool calls spread over two instances of each service all succeed; every user is provisioned once")
    func twoOfEverything() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "system")
        let github = FakeGitHub()
        try await github.run { upstream in
            let platform = try await Platform.start(database: database, kafka: broker.bootstrapServers, instances: 2, provisioning: true)
            do {
                try await platform.createTenant(upstream: upstream, github: github)
                let origin = platform.frontDoor.origin
                let users = 6
                for index in 0..<users {
                    let email = "user\(index)@example.org"
                    github.setUser(.init(id: 7000 + index, login: "user\(index)", name: "User \(index)", publicEmail: nil, primaryEmail: email))
                    let login = try await CodeFlow.login(
                        registration: URL(string: origin + "/oauth/register")!, authorization: URL(string: origin + "/oauth/authorize")!,
                        token: URL(string: origin + "/oauth/token")!, resource: URL(string: origin + "/mcp")!, scopes: ["mcp:tools", "email"],
                        issuer: origin, session: URLSession.shared)
                    // Odd users refresh twice: the front door alternates per request, and this shifts
                    // which instance the next redemption reaches.
                    var refresh = login.refresh
                    var access = login.access
                    for _ in 0..<(index.isMultiple(of: 2) ? 1 : 2) {
                        let refreshed = try await CodeFlow.post(URL(string: origin + "/oauth/token")!, session: URLSession.shared, form: [
                            ("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", login.clientId)])
                        access = try #require(refreshed["access_token"] as? String)
                        refresh = try #require(refreshed["refresh_token"] as? String)
                    }
                    for call in 0..<4 {
                        let answer = try await Self.callTool(origin: origin, token: call == 0 ? login.access : access, tool: "whoami")
                        #expect(answer.contains(email), "\(answer)")
                    }
                    let filed = try await Self.callTool(origin: origin, token: access, tool: "get_support",
                                                       arguments: #"{"subject":"Help \#(index)","message":"From user \#(index)"}"#)
                    #expect(filed.contains("Filed support request") && filed.contains(email), "\(filed)")
                }

                // Every instance did its share: the front door alternates between them.
                for gateway in platform.gateways {
                    let steps = ["Client registered", "Consent asked", "Consent given", "Code issued"]
                    #expect(gateway.process.output.contains { line in steps.contains { line.contains($0) } }, "\(gateway.process.name) served no login step")
                }
                for tokens in platform.tokenServices {
                    #expect(tokens.process.output.contains { $0.contains("Tokens issued") }, "\(tokens.process.name) issued nothing")
                }
                for toolHost in platform.toolHosts {
                    let (data, _) = try await URLSession.shared.data(from: URL(string: toolHost.base + "/metrics")!)
                    let served = String(decoding: data, as: UTF8.self).split(separator: "\n")
                        .filter { $0.hasPrefix("gatehouse_tool_calls_total") && $0.contains("outcome=\"success\"") }
                        .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
                    #expect(served > 0, "\(toolHost.process.name) served no tool call")
                }
                // Both provisioning instances share the consumer group; every user exists exactly once.
                try await eventually("every user provisioned", timeout: .seconds(30), interval: .milliseconds(200)) {
                    try await platform.query("SELECT count(*)::text FROM provisioning.users") == [["\(users)"]]
                }
                let emails = try await platform.query("SELECT email FROM provisioning.users ORDER BY email")
                #expect(emails == (0..<users).map { ["user\($0)@example.org"] })
                #expect(try await platform.query("SELECT count(*)::text FROM toolhost.support_requests") == [["\(users)"]])
            } catch {
                for service in platform.services { print("--- \(service.process.name)\n" + service.process.output.suffix(10).joined(separator: "\n")) }
                await platform.stop()
                throw error
            }
            await platform.stop()
        }
        await broker.process.killHard()
    }

    static func callTool(origin: String, token: String, tool: String, arguments: String = "{}") async throws -> String {
        var request = URLRequest(url: URL(string: origin + "/mcp")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json, text/event-stream", forHTTPHeaderField: "Accept")
        request.httpBody = Data(ToolHostFixture.toolCall(tool, arguments: arguments).utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        return String(decoding: data, as: UTF8.self)
    }
}
