import Foundation
import GatehouseTestSupport
import PostgresNIO
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The platform as it scales: two instances of every service behind the front door, as
/// separate processes on one database and broker.
@Suite("System: two instances of every service", .serialized)
struct SystemInstancesTests {
    @Test("Logins, refreshes and tool calls spread over two instances of each service all succeed; every user is provisioned once")
    func twoOfEverything() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "system")
        let github = FakeGitHub()
        try await github.run { upstream in
            let platform = try await Platform.start(database: database, kafka: broker.bootstrapServers, instances: 2, provisioning: true)
            do {
                try await platform.createTenant(upstream: github.app(at: upstream))
                let endpoints = OAuthEndpoints(origin: platform.frontDoor.origin)
                let users = 6
                try await PlatformClient.with { client in
                    for index in 0..<users {
                        let email = "user\(index)@example.org"
                        github.setUser(.init(id: 7000 + index, login: "user\(index)", name: "User \(index)", publicEmail: nil, primaryEmail: email))
                        let login = try await client.signIn(
                            endpoints,
                            clientId: try await client.register(endpoints),
                            scopes: ["mcp:tools", "email"]
                        )
                        // Odd users refresh twice: the front door alternates per request, and this shifts
                        // which instance the next redemption reaches.
                        var current = login
                        for _ in 0..<(index.isMultiple(of: 2) ? 1 : 2) { current = try await client.refresh(endpoints, current) }
                        for call in 0..<4 {
                            let answer = try await client.callTool(endpoints, token: call == 0 ? login.access : current.access, tool: "whoami")
                            #expect(answer.status == 200 && answer.body.contains(email), "\(answer.body)")
                        }
                        let filed = try await client.callTool(
                            endpoints,
                            token: current.access,
                            tool: "get_support",
                            arguments: #"{"subject":"Help \#(index)","message":"From user \#(index)"}"#
                        )
                        #expect(filed.body.contains("Filed support request") && filed.body.contains(email), "\(filed.body)")
                    }
                }

                // Two tabs of one application share its grant and its token storage, as browser tabs
                // share localStorage: in every round both refresh at the same moment with the token
                // they read (as each would on a 401), write what they got back (the last write wins),
                // and call a tool. The front door spreads them over both token services.
                try await PlatformClient.with { client in
                    let email = "tabs@example.org"
                    github.setUser(.init(id: 7900, login: "tabs", name: "Tabs", publicEmail: nil, primaryEmail: email))
                    let storage = SharedStorage(
                        try await client.signIn(endpoints, clientId: try await client.register(endpoints), scopes: ["mcp:tools", "email"])
                    )
                    for _ in 0..<10 {
                        let read = storage.value
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for _ in 0..<2 {
                                group.addTask {
                                    let answer = try await client.callTool(endpoints, token: read.access, tool: "whoami")
                                    #expect(answer.status == 200 || answer.status == 401, "\(answer.body)")
                                    let fresh = try await client.refresh(endpoints, read)
                                    storage.value = fresh
                                    let after = try await client.callTool(endpoints, token: fresh.access, tool: "whoami")
                                    #expect(after.status == 200 && after.body.contains(email), "\(after.body)")
                                }
                            }
                            try await group.waitForAll()
                        }
                    }
                    // The grant lives on: its token still refreshes, and no reuse was ever detected.
                    _ = try await client.refresh(endpoints, storage.value)
                    let clientId = storage.value.clientId
                    #expect(
                        try await platform.query("SELECT count(*)::text FROM tokens.grants WHERE client_id = \(clientId) AND revoked_at IS NULL")
                            == [["1"]]
                    )
                    #expect(try await platform.query("SELECT count(*)::text FROM tokens.outbox WHERE event_type = 'token.reuse-detected'") == [["0"]])
                }

                // Every instance did its share: the front door alternates between them.
                for gateway in platform.gateways {
                    let steps = ["Client registered", "Consent asked", "Consent given", "Code issued"]
                    #expect(gateway.output.contains { line in steps.contains { line.contains($0) } }, "\(gateway.name) served no login step")
                }
                for tokens in platform.tokenServices {
                    #expect(tokens.output.contains { $0.contains("Tokens issued") }, "\(tokens.name) issued nothing")
                }
                for toolHost in platform.toolHosts {
                    let (data, _) = try await URLSession.shared.data(from: URL(string: toolHost.base + "/metrics")!)
                    let served = String(decoding: data, as: UTF8.self).split(separator: "\n")
                        .filter { $0.hasPrefix("gatehouse_tool_calls_total") && $0.contains("outcome=\"success\"") }
                        .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
                    #expect(served > 0, "\(toolHost.name) served no tool call")
                }
                // Both provisioning instances share the consumer group; every user exists exactly once.
                try await eventually("every user provisioned", timeout: .seconds(30), interval: .milliseconds(200)) {
                    try await platform.query("SELECT count(*)::text FROM provisioning.users") == [["\(users + 1)"]]
                }
                let emails = try await platform.query("SELECT email FROM provisioning.users ORDER BY email")
                #expect(emails == [["tabs@example.org"]] + (0..<users).map { ["user\($0)@example.org"] })
                #expect(try await platform.query("SELECT count(*)::text FROM toolhost.support_requests") == [["\(users)"]])
            } catch {
                print(platform.report(lines: 10))
                await platform.stop()
                throw error
            }
            await platform.stop()
        }
        await broker.process.killHard()
    }
}

/// What tabs of one application share (its localStorage): the last write wins.
final class SharedStorage: Sendable {
    private let tokens: Mutex<SignedIn>
    init(_ tokens: SignedIn) { self.tokens = Mutex(tokens) }
    var value: SignedIn {
        get { tokens.withLock { $0 } }
        set { tokens.withLock { $0 = newValue } }
    }
}
