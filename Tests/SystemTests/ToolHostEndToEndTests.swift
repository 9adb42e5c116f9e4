import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import MCP
import PostgresNIO
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The whole login as an MCP client lives it: the MCP Swift SDK's own client and OAuth
/// authorizer against the gateway, token service and tool host running as separate
/// processes behind the nginx front door over TLS, with a fake GitHub as the upstream.
@Suite("End to end: the MCP SDK client logs in and calls tools", .serialized)
struct ToolHostEndToEndTests {
    @Test(
        "Discovery, registration, PKCE, consent, upstream login and token, then get_support filed under that user's email; another user never sees it"
    )
    func sdkClientLogsInAndFilesARequest() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        // A private broker: the services' consumer groups must not meet other tests' consumers.
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "e2e")
        let github = FakeGitHub()
        try await github.run { upstream in
            let platform = try await Platform.start(database: database, kafka: broker.bootstrapServers)
            do {
                try await platform.createTenant(upstream: github.app(at: upstream))

                // The front door serves introspection to the tenant's resource servers (who must
                // authenticate) and keeps health checks and metrics to the services' own addresses.
                try await PlatformClient.with { http in
                    let origin = platform.frontDoor.origin
                    let introspection = try await http.send(
                        "POST",
                        origin + "/oauth/introspect",
                        body: "token=x",
                        contentType: "application/x-www-form-urlencoded"
                    )
                    #expect(introspection.status == 401, "\(introspection.body)")
                    for path in ["/metrics", "/health/ready", "/health/live"] {
                        #expect(try await http.send("GET", origin + path).status == 404, "\(path)")
                    }
                    #expect(try await http.send("GET", origin + "/oauth/token").status == 405)
                }

                let octo = try await Self.signedInClient(platform: platform, github: github)
                let filed = try await octo.callTool(name: "get_support", arguments: ["subject": "VPN down", "message": "Since this morning."])
                #expect(filed.isError == false)
                let text = Self.text(filed.content)
                let id = try #require(text.split(separator: " ").first { $0.hasPrefix("sr_") }.map(String.init))
                #expect(text.contains("octo@example.org"))
                #expect(Self.text(try await octo.callTool(name: "list_my_support_requests").content).contains(id))
                #expect(try await octo.listTools().tools.map(\.name).sorted() == ["get_support", "list_my_support_requests", "whoami"])

                github.setUser(.init(id: 5151, login: "hubot", name: "Hu Bot", publicEmail: nil, primaryEmail: "hubot@example.org"))
                let hubot = try await Self.signedInClient(platform: platform, github: github)
                let theirs = Self.text(try await hubot.callTool(name: "list_my_support_requests").content)
                #expect(theirs == "You have no support requests.")
                #expect(Self.text(try await hubot.callTool(name: "whoami").content).contains("hubot@example.org"))

                // The request is stored under the upstream's verified email, for the user the token named.
                let rows = try await platform.query("SELECT email, user_id FROM toolhost.support_requests")
                #expect(rows == [["octo@example.org", rows.first?[1] ?? ""]])
                #expect(rows.first?[1].hasPrefix("usr_") == true)
                await octo.disconnect()
                await hubot.disconnect()
            } catch {
                print(platform.report())
                await platform.stop()
                throw error
            }
            await platform.stop()
        }
        await broker.process.killHard()
    }

    /// An SDK client, connected: its first request meets the 401, and its authorizer follows
    /// the challenge, discovers the protected resource and the authorization server (RFC 9728,
    /// RFC 8414) and gets a token.
    ///
    /// The SDK's own authorization_code flow cannot run on Linux: SDK 0.12.1 computes the PKCE
    /// S256 challenge with CryptoKit only and throws `pkceS256Unavailable` elsewhere. So the
    /// token step goes through the SDK's `accessTokenProvider` hook, with the endpoints the
    /// SDK discovered: registration (RFC 7591), PKCE, the browser's consent and upstream login,
    /// and the code exchange with the resource indicator (RFC 8707).
    static func signedInClient(platform: Platform, github: FakeGitHub, serverName: String = "gatehouse-tool-host") async throws -> Client {
        let configuration = OAuthConfiguration(
            grantType: .authorizationCode,
            authentication: .none(clientID: ""),
            authorizationRedirectURI: URL(string: PlatformClient.redirectURI)!,
            clientName: "Gatehouse end-to-end test",
            accessTokenProvider: { context, session in try await CodeFlow.run(context, session: session) }
        )
        let transport = HTTPClientTransport(
            endpoint: URL(string: platform.frontDoor.origin + "/mcp")!,
            streaming: false,
            authorizer: OAuthAuthorizer(configuration: configuration)
        )
        let client = Client(name: "gatehouse-e2e", version: "1.0.0")
        let initialized = try await client.connect(transport: transport)
        #expect(initialized.serverInfo.name == serverName)
        return client
    }

    static func text(_ content: [Tool.Content]) -> String {
        content.compactMap { if case .text(let text, _, _) = $0 { return text } else { return nil } }.joined(separator: "\n")
    }
}

/// What a native MCP client does with the endpoints the SDK discovered: registers, sends the
/// user's browser to authorize with PKCE, and redeems the code.
enum CodeFlow {
    static func run(_ context: OAuthConfiguration.AccessTokenProviderContext, session: URLSession) async throws -> String? {
        #expect(context.statusCode == 401)
        #expect(context.resource.absoluteString.hasSuffix("/mcp"))
        let endpoints = OAuthEndpoints(
            registration: try #require(context.registrationEndpoint).absoluteString,
            authorization: try #require(context.authorizationEndpoint).absoluteString,
            token: try #require(context.tokenEndpoint).absoluteString,
            resource: context.resource.absoluteString,
            issuer: try #require(context.authorizationServer).absoluteString
        )
        let scopes = (context.requestedScopes ?? []).sorted()
        return try await PlatformClient.with { client in
            try await client.signIn(endpoints, clientId: try await client.register(endpoints), scopes: scopes).access
        }
    }

}
