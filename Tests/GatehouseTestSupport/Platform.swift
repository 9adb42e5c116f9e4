import Foundation
import GatehouseCrypto
import GatehousePostgres
import Logging
import PostgresNIO
import Synchronization

/// One service instance as a process that can be killed and started again. It keeps the port
/// the system gave it first, because the front door's upstream list names that port.
public final class ServiceInstance: Sendable {
    public let executable: String
    public let name: String
    public let port: Int
    private let environment: [String: String]
    private let current: Mutex<ServiceProcess>
    /// Output lines of the instance's earlier processes (before a restart).
    private let earlier = Mutex<[String]>([])

    init(_ executable: String, name: String, environment: [String: String]) async throws {
        let first = try await ServiceProcess.start(executable, name: name, environment: environment)
        self.executable = executable
        self.name = name
        self.environment = environment
        port = first.port
        current = Mutex(first)
    }

    public var process: ChildProcess { current.withLock { $0.process } }
    public var base: String { "http://127.0.0.1:\(port)" }
    /// Every line this instance printed, across restarts.
    public var output: [String] { earlier.withLock { $0 } + process.output }

    /// SIGKILL: no graceful shutdown, nothing flushed.
    public func kill() async {
        await process.killHard()
    }

    /// Starts the instance again on its port (after `kill`) and waits until it listens.
    public func restart() async throws {
        let previous = process
        if previous.isRunning { await previous.killHard() }
        let next = try await ServiceProcess.start(executable, name: name, environment: environment, port: port)
        earlier.withLock { $0 += previous.output }
        current.withLock { $0 = next }
    }

    /// Resident and peak resident memory (kB) from /proc, while the process runs.
    public var memory: ProcessMemory? { ProcessMemory.of(pid: process.processIdentifier) }
}

/// An upstream OAuth application of the GitHub dialect: where it lives and the credentials
/// a tenant uses with it.
public struct UpstreamApp: Sendable {
    public var base: String
    public var clientId: String
    public var clientSecret: String

    public init(base: String, clientId: String, clientSecret: String) {
        self.base = base
        self.clientId = clientId
        self.clientSecret = clientSecret
    }
}

extension FakeGitHub {
    /// This provider, served at `base`, as a tenant's upstream.
    public func app(at base: String) -> UpstreamApp { UpstreamApp(base: base, clientId: clientId, clientSecret: clientSecret) }
}

/// The development identity provider (`gatehouse-dev-idp`) as a process: it signs in whoever
/// the sign-in form names, so concurrent logins can each be a different person.
public final class DevIdentityProvider: Sendable {
    public let process: ChildProcess
    public let app: UpstreamApp

    public init() async throws {
        let port = try freeTCPPort()
        let secret = Base64URL.encode(SecretGenerator.randomBytes(24))
        process = try ChildProcess(
            executable: TestPaths.executable("gatehouse-dev-idp"),
            // `=`: a base64url secret may begin with "-", which would read as an option.
            arguments: ["--port", String(port), "--client-id", "gatehouse", "--client-secret=\(secret)"],
            name: "dev-idp",
            captureStandardError: true
        )
        app = UpstreamApp(base: "http://127.0.0.1:\(port)", clientId: "gatehouse", clientSecret: secret)
        _ = try await process.waitForLine(timeout: .seconds(60)) { $0.contains("listening on") }
    }

    public func stop() async { await process.terminate(timeout: .seconds(5)) }
}

/// The services as processes on one database and broker, `instances` of each behind the nginx
/// front door with TLS (provisioning too when asked).
public struct Platform: Sendable {
    public static let operatorToken = "platform-operator-token-0123456789abcdef"
    public static let introspectionSecret = "platform-introspection-secret-0123456789abcdef"

    public let gateways: [ServiceInstance]
    public let tokenServices: [ServiceInstance]
    public let toolHosts: [ServiceInstance]
    public let provisioners: [ServiceInstance]
    public let frontDoor: FrontDoor
    public let database: PostgresSettings
    public let kafka: String

    public var gateway: ServiceInstance { gateways[0] }
    public var services: [ServiceInstance] { gateways + tokenServices + toolHosts + provisioners }
    /// The environment the services share (database and broker), for operator commands.
    public var environment: [String: String] { ServiceProcess.environment(database: database, kafka: kafka) }

    /// `gatewayEnvironment` adds to (or overrides) the gateways' settings.
    public static func start(
        database: PostgresSettings,
        kafka: String,
        instances: Int = 1,
        provisioning: Bool = false,
        gatewayEnvironment: [String: String] = [:]
    ) async throws -> Platform {
        let keyRing = "k1:" + Base64URL.encode(SecretGenerator.randomBytes(32))
        let sessionKey = Base64URL.encode(SecretGenerator.randomBytes(32))
        let assertionKeys = "a1:" + Base64URL.encode(SecretGenerator.randomBytes(32))
        let internalToken = Base64URL.encode(SecretGenerator.randomBytes(32))
        var common = ServiceProcess.environment(database: database, kafka: kafka)
        common["GATEHOUSE_PUBLIC_SCHEME"] = "https"
        common["GATEHOUSE_TRUSTED_PROXIES"] = "127.0.0.1"
        func many(_ executable: String, _ name: String, _ environment: [String: String]) async throws -> [ServiceInstance] {
            var started: [ServiceInstance] = []
            for index in 0..<instances {
                started.append(try await ServiceInstance(executable, name: "\(name)-\(index + 1)", environment: common.merging(environment) { $1 }))
            }
            return started
        }
        let gateways = try await many(
            "gatehouse-gateway",
            "gateway",
            [
                "GATEHOUSE_KEYRING": keyRing, "GATEHOUSE_OPERATOR_TOKEN": operatorToken, "GATEHOUSE_ALLOW_INSECURE_UPSTREAM": "true",
                "GATEHOUSE_INTERNAL_TOKEN": internalToken,
            ].merging(gatewayEnvironment) { $1 }
        )
        let provisioners = provisioning ? try await many("gatehouse-provisioning", "provisioning", [:]) : []
        let tokenServices = try await many(
            "gatehouse-token-service",
            "token-service",
            [
                "GATEHOUSE_KEYRING": keyRing, "GATEHOUSE_RESOURCE_SERVERS": "tool-host:\(introspectionSecret)",
                "GATEHOUSE_ASSERTION_KEYS": assertionKeys,
            ]
        )
        // Each tool host introspects at its own token service instance; any would do.
        var toolHosts: [ServiceInstance] = []
        for (index, tokens) in tokenServices.enumerated() {
            toolHosts.append(
                try await ServiceInstance(
                    "gatehouse-tool-host",
                    name: "tool-host-\(index + 1)",
                    environment: common.merging([
                        "GATEHOUSE_TOKEN_SERVICE_URL": tokens.base, "GATEHOUSE_INTROSPECTION_SECRET": introspectionSecret,
                        "GATEHOUSE_MCP_SESSION_KEY": sessionKey, "GATEHOUSE_ASSERTION_KEYS": assertionKeys,
                        "GATEHOUSE_GATEWAY_URL": gateways[index % gateways.count].base, "GATEHOUSE_INTERNAL_TOKEN": internalToken,
                    ]) { $1 }
                )
            )
        }
        let frontDoor = try await FrontDoor(
            gateway: gateways.map(\.port),
            tokenService: tokenServices.map(\.port),
            toolHost: toolHosts.map(\.port)
        )
        return Platform(
            gateways: gateways,
            tokenServices: tokenServices,
            toolHosts: toolHosts,
            provisioners: provisioners,
            frontDoor: frontDoor,
            database: database,
            kafka: kafka
        )
    }

    /// The tenant at the front door's host, logging in at `upstream`; waits until the token
    /// service and the tool host have it from `tenant.updated`.
    /// `mcp`: the tenant's MCP endpoint settings as JSON (nil: the built-in tools).
    public func createTenant(upstream: UpstreamApp, id: String = "acme", mcp: String? = nil) async throws {
        let body = Self.tenantBody(id: id, host: frontDoor.host, upstream: upstream, mcp: mcp)
        try await PlatformClient.with { client in try await createTenant(body: body, client: client) }
    }

    /// Creates `count` more tenants through the admin API (`concurrency` at a time), each with a
    /// host of its own that no request names, and waits until the token service's and the tool
    /// host's projections hold every tenant.
    public func createIdleTenants(_ count: Int, upstream: UpstreamApp, concurrency: Int = 8) async throws {
        try await PlatformClient.with { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<concurrency {
                    group.addTask {
                        for index in stride(from: lane + 1, through: count, by: concurrency) {
                            let (id, host) = BenchmarkCodes.idleTenant(index)
                            try await postTenant(Self.tenantBody(id: id, host: host, upstream: upstream, mcp: nil), client: client)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await eventually("every tenant projected", timeout: .seconds(300), interval: .milliseconds(500)) {
            let counts = try await query("SELECT (SELECT count(*) FROM tokens.tenants)::text, (SELECT count(*) FROM toolhost.tenants)::text")
            return counts.first?.allSatisfy { Int($0) ?? 0 >= count } ?? false
        }
    }

    private static func tenantBody(id: String, host: String, upstream: UpstreamApp, mcp: String?) -> String {
        """
        {"id": "\(id)", "display_name": "Acme", \(mcp.map { "\"mcp\": \($0)," } ?? "") "hosts": ["\(host)"], "auth_mode": "oauth", "email_linking": "verified_email",
         "client_secret": "\(upstream.clientSecret)",
         "upstream": {"kind": "oauth2", "authorization_endpoint": "\(upstream.base)/login/oauth/authorize",
                      "token_endpoint": "\(upstream.base)/login/oauth/access_token", "user_endpoint": "\(upstream.base)/user",
                      "emails_endpoint": "\(upstream.base)/user/emails", "client_id": "\(upstream.clientId)",
                      "claims": {"subject": "id", "email": "email", "email_verified": "email_verified", "name": "name"}}}
        """
    }

    /// Changes the tenant with a JSON merge of `body` through the admin API.
    public func updateTenant(_ body: String, id: String = "acme") async throws {
        try await PlatformClient.with { client in _ = try await admin("PATCH", "/admin/tenants/\(id)", body, expecting: 200, client: client) }
    }

    /// Registers a client credentials client of the tenant through the admin API; the answer
    /// (with the secret, for `client_secret_basic`).
    public func registerServiceClient(_ body: String, tenant: String = "acme") async throws -> [String: Any] {
        let text = try await PlatformClient.with { client in
            try await admin("POST", "/admin/tenants/\(tenant)/clients", body, expecting: 201, client: client)
        }
        guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestSupportError("the registration is not a JSON object: \(text)")
        }
        return json
    }

    /// Creates a tenant through the admin API (201 or a failure).
    private func postTenant(_ body: String, client: PlatformClient) async throws {
        _ = try await admin("POST", "/admin/tenants", body, expecting: 201, client: client)
    }

    /// An admin API request with the operator token: the answer's body, or a failure naming
    /// the status when it is not `expecting`.
    private func admin(_ method: String, _ path: String, _ body: String, expecting status: Int, client: PlatformClient) async throws -> String {
        let answer = try await client.send(
            method,
            gateway.base + path,
            body: body,
            contentType: "application/json",
            headers: [("Authorization", "Bearer \(Self.operatorToken)")]
        )
        guard answer.status == status else { throw TestSupportError("\(method) \(path) answered \(answer.status): \(answer.body)") }
        return answer.body
    }

    private func createTenant(body: String, client: PlatformClient) async throws {
        try await postTenant(body, client: client)
        let lastError = Mutex<String>("none")
        do {
            // Every instance is asked directly, with the headers the front door sets: through the
            // front door one answer says only that the instance it reached knows the tenant, and
            // another may still answer 404 from its last look at the directory.
            let forwarded = [("X-Forwarded-Host", frontDoor.host), ("X-Forwarded-Proto", "https")]
            try await eventually("every gateway, token service and tool host knows the tenant", timeout: .seconds(30), interval: .milliseconds(100)) {
                do {
                    for gateway in gateways
                    where try await client.send("GET", gateway.base + "/.well-known/oauth-authorization-server", headers: forwarded).status != 200 {
                        return false
                    }
                    for toolHost in toolHosts where try await client.send("POST", toolHost.base + "/mcp", headers: forwarded).status != 401 {
                        return false
                    }
                    for tokens in tokenServices where try await client.send("POST", tokens.base + "/oauth/token", headers: forwarded).status != 400 {
                        return false
                    }
                    // And through the front door, which is what clients use.
                    let mcp = try await client.send("POST", frontDoor.origin + "/mcp")
                    let token = try await client.send("POST", frontDoor.origin + "/oauth/token")
                    return mcp.status == 401 && token.status == 400
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

    /// Runs `sql` on the platform's database (values bound through interpolation); every column
    /// is read as text (NULL as "NULL").
    public func query(_ sql: PostgresQuery) async throws -> [[String]] {
        let logger = testLogger()
        let connection = try await PostgresConnection.connect(configuration: database.connectionConfiguration, id: 1, logger: logger)
        do {
            var rows: [[String]] = []
            for try await row in try await connection.query(sql, logger: logger) {
                rows.append(try row.map { try $0.decode(String?.self) ?? "NULL" })
            }
            try await connection.close()
            return rows
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The last lines of every service, for a failed test's report.
    public func report(lines: Int = 15) -> String {
        let proxy = ((try? String(contentsOfFile: frontDoor.errorLog, encoding: .utf8)) ?? "").split(separator: "\n").suffix(lines)
        return
            (services.map { "--- \($0.name)\n" + $0.output.suffix(lines).joined(separator: "\n") } + ["--- nginx\n" + proxy.joined(separator: "\n")])
            .joined(separator: "\n")
    }

    public func stop() async {
        await frontDoor.stop()
        for service in services { await service.process.terminate(timeout: .seconds(15)) }
    }

    /// Ends a run: the client, the platform, then the upstream and the broker it used.
    public func stop(client: PlatformClient, upstream: DevIdentityProvider, broker: TestBroker) async {
        await client.shutdown()
        await stop()
        await upstream.stop()
        await broker.process.killHard()
    }
}
