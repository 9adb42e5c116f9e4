import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseRuntime
import GatehousePostgres
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
    static let operatorToken = "e2e-operator-token-0123456789abcdef"
    static let introspectionSecret = "e2e-introspection-secret-0123456789abcdef"

    @Test("Discovery, registration, PKCE, consent, upstream login and token, then get_support filed under that user's email; another user never sees it")
    func sdkClientLogsInAndFilesARequest() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        // A private broker: the services' consumer groups must not meet other tests' consumers.
        let broker = try await TestBroker()
        let database = try await postgres.makeDatabase(named: "e2e")
        let github = FakeGitHub()
        try await github.run { upstream in
            let platform = try await Platform.start(database: database, kafka: broker.bootstrapServers)
            do {
                try await platform.createTenant(upstream: upstream, github: github)

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
                for service in platform.services { print("--- \(service.process.name)\n" + service.process.output.suffix(15).joined(separator: "\n")) }
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
    static func signedInClient(platform: Platform, github: FakeGitHub) async throws -> Client {
        let configuration = OAuthConfiguration(
            grantType: .authorizationCode, authentication: .none(clientID: ""),
            authorizationRedirectURI: URL(string: ApprovingBrowser.redirect)!, clientName: "Gatehouse end-to-end test",
            accessTokenProvider: { context, session in try await CodeFlow.run(context, session: session) })
        let transport = HTTPClientTransport(endpoint: URL(string: platform.frontDoor.origin + "/mcp")!, streaming: false,
                                            authorizer: OAuthAuthorizer(configuration: configuration))
        let client = Client(name: "gatehouse-e2e", version: "1.0.0")
        let initialized = try await client.connect(transport: transport)
        #expect(initialized.serverInfo.name == "gatehouse-tool-host")
        return client
    }

    static func text(_ content: [Tool.Content]) -> String {
        content.compactMap { if case .text(let text, _, _) = $0 { return text } else { return nil } }.joined(separator: "\n")
    }
}

/// The services as processes on one database and broker, `instances` of each behind nginx with
/// TLS (provisioning too when asked).
struct Platform: Sendable {
    let gateways: [ServiceProcess]
    let tokenServices: [ServiceProcess]
    let toolHosts: [ServiceProcess]
    let provisioners: [ServiceProcess]
    let frontDoor: FrontDoor
    let database: PostgresSettings

    var gateway: ServiceProcess { gateways[0] }
    var services: [ServiceProcess] { gateways + tokenServices + toolHosts + provisioners }

    static func start(database: PostgresSettings, kafka: String, instances: Int = 1, provisioning: Bool = false) async throws -> Platform {
        let keyRing = "k1:" + Base64URL.encode(SecretGenerator.randomBytes(32))
        let sessionKey = Base64URL.encode(SecretGenerator.randomBytes(32))
        var common = ServiceProcess.environment(database: database, kafka: kafka)
        common["GATEHOUSE_PUBLIC_SCHEME"] = "https"
        common["GATEHOUSE_TRUSTED_PROXIES"] = "127.0.0.1"
        func many(_ executable: String, _ name: String, _ environment: [String: String]) async throws -> [ServiceProcess] {
            var started: [ServiceProcess] = []
            for index in 0..<instances {
                started.append(try await ServiceProcess.start(executable, name: "\(name)-\(index + 1)",
                                                              environment: common.merging(environment) { $1 }))
            }
            return started
        }
        let gatewayProcesses = try await many("gatehouse-gateway", "gateway", [
            "GATEHOUSE_KEYRING": keyRing, "GATEHOUSE_OPERATOR_TOKEN": ToolHostEndToEndTests.operatorToken,
            "GATEHOUSE_ALLOW_INSECURE_UPSTREAM": "true",
        ])
        let provisioners = provisioning ? try await many("gatehouse-provisioning", "provisioning", [:]) : []
        let tokenServices = try await many("gatehouse-token-service", "token-service", [
            "GATEHOUSE_KEYRING": keyRing, "GATEHOUSE_RESOURCE_SERVERS": "tool-host:\(ToolHostEndToEndTests.introspectionSecret)",
        ])
        // Each tool host introspects at its own token service instance; any would do.
        var toolHosts: [ServiceProcess] = []
        for (index, tokens) in tokenServices.enumerated() {
            toolHosts.append(try await ServiceProcess.start("gatehouse-tool-host", name: "tool-host-\(index + 1)", environment: common.merging([
                "GATEHOUSE_TOKEN_SERVICE_URL": tokens.base, "GATEHOUSE_INTROSPECTION_SECRET": ToolHostEndToEndTests.introspectionSecret,
                "GATEHOUSE_MCP_SESSION_KEY": sessionKey,
            ]) { $1 }))
        }
        let frontDoor = try await FrontDoor(gateway: gatewayProcesses.map(\.port), tokenService: tokenServices.map(\.port),
                                           toolHost: toolHosts.map(\.port))
        return Platform(gateways: gatewayProcesses, tokenServices: tokenServices, toolHosts: toolHosts, provisioners: provisioners,
                        frontDoor: frontDoor, database: database)
    }

    /// The tenant at the front door's host, logging in at the fake GitHub; waits until the token
    /// service and the tool host have it from `tenant.updated`.
    func createTenant(upstream: String, github: FakeGitHub) async throws {
        let body = """
            {"id": "acme", "display_name": "Acme", "hosts": ["\(frontDoor.host)"], "auth_mode": "oauth", "email_linking": "verified_email",
             "client_secret": "\(github.clientSecret)",
             "upstream": {"kind": "oauth2", "authorization_endpoint": "\(upstream)/login/oauth/authorize",
                          "token_endpoint": "\(upstream)/login/oauth/access_token", "user_endpoint": "\(upstream)/user",
                          "emails_endpoint": "\(upstream)/user/emails", "client_id": "\(github.clientId)",
                          "claims": {"subject": "id", "email": "email", "email_verified": "email_verified", "name": "name"}}}
            """
        var request = URLRequest(url: URL(string: "\(gateway.base)/admin/tenants")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(ToolHostEndToEndTests.operatorToken)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 201 else {
            throw TestSupportError("tenant not created: \(String(decoding: data, as: UTF8.self))")
        }
        let lastError = Mutex<String>("none")
        do {
            try await eventually("the tool host and token service know the tenant", timeout: .seconds(30), interval: .milliseconds(100)) {
                do {
                    var mcp = URLRequest(url: URL(string: frontDoor.origin + "/mcp")!)
                    mcp.httpMethod = "POST"
                    let (_, mcpResponse) = try await URLSession.shared.data(for: mcp)
                    var token = URLRequest(url: URL(string: frontDoor.origin + "/oauth/token")!)
                    token.httpMethod = "POST"
                    let (_, tokenResponse) = try await URLSession.shared.data(for: token)
                    return (mcpResponse as? HTTPURLResponse)?.statusCode == 401 && (tokenResponse as? HTTPURLResponse)?.statusCode == 400
                } catch {
                    lastError.withLock { $0 = "\(error)" }
                    return false
                }
            }
        } catch {
            // A TLS failure here means this machine does not trust the test CA: run scripts/test-tls.
            throw TestSupportError("\(error); last request error: \(lastError.withLock { $0 })")
        }
    }

    func query(_ sql: String) async throws -> [[String]] {
        let logger = testLogger()
        let connection = try await PostgresConnection.connect(configuration: database.connectionConfiguration, id: 1, logger: logger)
        defer { Task { try? await connection.close() } }
        var rows: [[String]] = []
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) {
            rows.append(try row.map { try $0.decode(String.self) })
        }
        return rows
    }

    func stop() async {
        await frontDoor.stop()
        for service in services { await service.process.terminate(timeout: .seconds(15)) }
    }
}

/// What a native MCP client does with the endpoints the SDK discovered: registers, sends the
/// user's browser to authorize with PKCE, and redeems the code.
enum CodeFlow {
    static func run(_ context: OAuthConfiguration.AccessTokenProviderContext, session: URLSession) async throws -> String? {
        #expect(context.statusCode == 401)
        #expect(context.resource.absoluteString.hasSuffix("/mcp"))
        return try await login(registration: try #require(context.registrationEndpoint), authorization: try #require(context.authorizationEndpoint),
                               token: try #require(context.tokenEndpoint), resource: context.resource, scopes: context.requestedScopes ?? [],
                               issuer: context.authorizationServer?.absoluteString, session: session).access
    }

    /// Registration, the browser's authorization with PKCE, and the code exchange.
    static func login(registration registrationEndpoint: URL, authorization authorizationEndpoint: URL, token tokenEndpoint: URL,
                      resource: URL, scopes: Set<String>, issuer: String?, session: URLSession) async throws
        -> (access: String, refresh: String, clientId: String) {
        let registration = try await post(registrationEndpoint, session: session, json: [
            "client_name": "Gatehouse end-to-end test", "redirect_uris": [ApprovingBrowser.redirect], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "application_type": "native",
        ])
        let clientId = try #require(registration["client_id"] as? String)

        let verifier = Base64URL.encode(SecretGenerator.randomBytes(32))
        let state = Base64URL.encode(SecretGenerator.randomBytes(16))
        var components = try #require(URLComponents(url: authorizationEndpoint, resolvingAgainstBaseURL: false))
        components.queryItems = [
            .init(name: "response_type", value: "code"), .init(name: "client_id", value: clientId),
            .init(name: "redirect_uri", value: ApprovingBrowser.redirect), .init(name: "state", value: state),
            .init(name: "code_challenge", value: GatehouseOAuth.PKCE.challenge(for: verifier)), .init(name: "code_challenge_method", value: "S256"),
            .init(name: "resource", value: resource.absoluteString),
            .init(name: "scope", value: scopes.sorted().joined(separator: " ")),
        ]
        let back = try await ApprovingBrowser().presentAuthorizationURL(try #require(components.url))
        let query = Dictionary(uniqueKeysWithValues: (URLComponents(url: back, resolvingAgainstBaseURL: false)?.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(query["state"] == state)
        if let issuer { #expect(query["iss"] == issuer) }
        let code = try #require(query["code"])

        let token = try await post(tokenEndpoint, session: session, form: [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", ApprovingBrowser.redirect), ("client_id", clientId),
            ("code_verifier", verifier), ("resource", resource.absoluteString),
        ])
        #expect(token["token_type"] as? String == "Bearer")
        return (try #require(token["access_token"] as? String), try #require(token["refresh_token"] as? String), clientId)
    }

    static func post(_ url: URL, session: URLSession, json: [String: Any]? = nil, form: [(String, String)]? = nil) async throws -> [String: Any] {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
        } else if let form {
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(FormBody.encode(form).utf8)
        }
        let (data, response) = try await session.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status), let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestSupportError("\(url.path) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return object
    }
}

/// The user's browser: follows the authorization request through the consent page (approving
/// it), the upstream login and our callback, and hands the redirect back to the client. It
/// keeps its own cookies and never follows the final redirect (nothing listens there).
final class ApprovingBrowser: OAuthAuthorizationDelegate {
    static let redirect = "http://127.0.0.1:53682/callback"

    func presentAuthorizationURL(_ url: URL) async throws -> URL {
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let cookies = Mutex<[String: String]>([:])
        func visit(_ url: URL, form: String? = nil) async throws -> (status: Int, location: URL?, body: String) {
            var request = URLRequest(url: url)
            request.httpShouldHandleCookies = false
            let jar = cookies.withLock { $0 }
            if !jar.isEmpty { request.setValue(jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; "), forHTTPHeaderField: "Cookie") }
            if let form {
                request.httpMethod = "POST"
                request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data(form.utf8)
            }
            let (data, response) = try await session.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            for (name, value) in http.allHeaderFields where (name as? String)?.lowercased() == "set-cookie" {
                for cookie in "\(value)".split(separator: ",") {
                    let pair = cookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1) ?? []
                    if pair.count == 2 { cookies.withLock { $0[pair[0].trimmingCharacters(in: .whitespaces)] = String(pair[1]) } }
                }
            }
            let location = (http.value(forHTTPHeaderField: "Location")).flatMap { URL(string: $0, relativeTo: url)?.absoluteURL }
            return (http.statusCode, location, String(decoding: data, as: UTF8.self))
        }

        var step = try await visit(url)
        if step.status == 200 {
            let form = try #require(GatewayAuthorizeTests.form(step.body), "a consent form")
            step = try await visit(try #require(URL(string: "/oauth/consent", relativeTo: url)?.absoluteURL),
                                   form: "request=\(form.request)&csrf=\(form.csrf)&decision=approve")
        }
        // Upstream login (approves at once), then our callback, then the client's redirect URI.
        for _ in 0..<4 {
            let next = try #require(step.location, "a redirect (status \(step.status): \(step.body.prefix(200)))")
            if next.host == "127.0.0.1", next.port == 53682 { return next }
            step = try await visit(next)
        }
        throw TestSupportError("the login did not come back to the client")
    }
}

final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
