import ArgumentParser
import AsyncHTTPClient
import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization

/// Measures the gateway over real HTTP on loopback (server and load generator share the
/// machine): requests/s and p50/p99 of the metadata and registration endpoints, and complete
/// authorize → consent → upstream → callback round trips against the fake GitHub upstream.
/// It starts its own PostgreSQL cluster (fsync on unless `--no-durable`).
@main
struct GatewayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gatehouse-gateway-bench")

    @Option(help: "Seconds per phase.")
    var seconds = 5

    @Option(help: "Concurrent connections for the metadata and registration phases.")
    var concurrency = 32

    @Option(help: "Concurrent logins in the round-trip phase.")
    var logins = 8

    @OptionGroup var database: DatabaseOptions

    @Option(
        help:
            "Load generator for the metadata and registration phases: wrk (Debian's, a C program: the server gets the CPU) or swift (AsyncHTTPClient in this process)."
    )
    var load: LoadGenerator = .wrk

    enum LoadGenerator: String, ExpressibleByArgument { case wrk, swift }

    func run() async throws {
        let logger = benchmarkLogger()
        let postgres = try TestPostgres(durable: database.durable)
        let settings = try await postgres.makeDatabase(named: "gatewaybench")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let configuration = GatewayConfiguration(
            keyRing: try KeyRing(keys: ["bench": Array(repeating: 3, count: 32)], current: "bench"),
            publicScheme: "https",
            trustedProxies: [IPNetwork("127.0.0.1")!],
            allowInsecureUpstream: true,
            registration: RegistrationPolicy(perMinutePerAddress: 10_000_000, unusedClientLifetimeDays: 30)
        )
        let parts = GatewayService.Parts(postgres: client, logger: logger, configuration: configuration)
        let router = Router(context: GatehouseRequestContext.self)
        GatewayService.addRoutes(to: router, parts: parts, configuration: configuration, operatorToken: nil)
        let port = try freeTCPPort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        var httpConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(concurrency, logins * 2))
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration)
        let github = FakeGitHub()
        let base = "http://127.0.0.1:\(port)"
        print(
            "Gatehouse gateway benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores, PostgreSQL fsync \(database.fsync), "
                + "\(seconds) s per phase, loopback HTTP/1.1, server and load on one machine)"
        )

        try await github.run { upstream in
            try await client.whileRunning {
                try await GatewayService.definition.migrator.migrate(client: client, logger: logger)
                _ = try await parts.tenants.create(
                    TenantInput(
                        id: "acme",
                        displayName: "Acme",
                        hosts: ["acme.example"],
                        authMode: .oauth,
                        upstream: .init(
                            kind: .oauth2,
                            authorizationEndpoint: "\(upstream)/login/oauth/authorize",
                            tokenEndpoint: "\(upstream)/login/oauth/access_token",
                            userEndpoint: "\(upstream)/user",
                            emailsEndpoint: "\(upstream)/user/emails",
                            clientId: github.clientId,
                            claims: .init(subject: "id")
                        ),
                        clientSecret: github.clientSecret
                    )
                )
                try await withServices([app], logger: logger) {
                    try await eventually("gateway listening") { (try? await self.get(http, "\(base)/health")) != nil }
                    let metadataName = "metadata (GET /.well-known/oauth-authorization-server)"
                    let registrationName = "registration (POST /oauth/register)"
                    let metadata: Double
                    let registration: Double
                    if load == .wrk {
                        metadata = try wrk(
                            metadataName,
                            url: "\(base)/.well-known/oauth-authorization-server",
                            arguments: ["-H", "X-Forwarded-Host: acme.example"]
                        )
                        registration = try wrk(
                            registrationName,
                            url: "\(base)/oauth/register",
                            arguments: ["-s", TestPaths.packageRoot.appendingPathComponent("scripts/wrk/register.lua").path]
                        )
                    } else {
                        metadata = try await measure(metadataName, workers: concurrency) {
                            let status = try await self.get(http, "\(base)/.well-known/oauth-authorization-server")
                            guard status == 200 else { throw ValidationError("metadata answered \(status)") }
                        }
                        registration = try await measure(registrationName, workers: concurrency) {
                            let status = try await self.post(
                                http,
                                "\(base)/oauth/register",
                                contentType: "application/json",
                                body: #"{"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none","client_name":"bench"}"#
                            )
                            guard status == 201 else { throw ValidationError("registration answered \(status)") }
                        }
                    }
                    let clientId = try await parts.clients.register(
                        ClientMetadata(
                            redirectUris: ["http://127.0.0.1:5555/cb"],
                            tokenEndpointAuthMethod: "none",
                            grantTypes: ["authorization_code"],
                            responseTypes: ["code"],
                            applicationType: "native"
                        ),
                        tenant: "acme",
                        from: nil,
                        unusedLifetime: .seconds(3600)
                    ).clientId
                    let roundTrips = try await measure("login round trip (authorize, consent, upstream, callback)", workers: logins) {
                        try await self.login(http, base: base, clientId: clientId)
                    }
                    print("")
                    print(
                        String(
                            format: "Targets: metadata >= 10,000/s (%@), registration >= 1,000/s (%@); round trips: %.0f/s",
                            metadata >= 10_000 ? "met" : "NOT met",
                            registration >= 1_000 ? "met" : "NOT met",
                            roundTrips
                        )
                    )
                }
            }
        }
        try await http.shutdown()
        try await parts.upstream.http.shutdown()
    }

    func wrk(_ name: String, url: String, arguments: [String]) throws -> Double {
        try Wrk.run(name, url: url, arguments: arguments, connections: concurrency, seconds: seconds).requestsPerSecond
    }

    /// Runs `operation` from `workers` concurrent loops for the phase; prints and returns ops/s.
    func measure(_ name: String, workers: Int, _ operation: @escaping @Sendable () async throws -> Void) async throws -> Double {
        for _ in 0..<min(workers, 20) { try await operation() }  // warm-up: connections, caches
        let deadline = ContinuousClock.now + .seconds(seconds)
        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: Latencies.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var samples = Latencies()
                    while ContinuousClock.now < deadline {
                        let start = ContinuousClock.now
                        try await operation()
                        samples.record(ContinuousClock.now - start)
                    }
                    return samples
                }
            }
            var all = Latencies()
            for try await samples in group { all.add(samples) }
            return all
        }
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        let rate = Double(latencies.count) / elapsed
        print(
            String(
                format: "%@: %.0f/s, p50 %.2f ms, p99 %.2f ms (%d in %.1f s, %d concurrent)",
                name,
                rate,
                latencies.milliseconds(at: 0.5),
                latencies.milliseconds(at: 0.99),
                latencies.count,
                elapsed,
                workers
            )
        )
        return rate
    }

    func login(_ http: HTTPClient, base: String, clientId: String) async throws {
        let challenge = PKCE.challenge(for: PKCE.makeVerifier())
        let query =
            "response_type=code&client_id=\(clientId)&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcb&code_challenge=\(challenge)"
            + "&code_challenge_method=S256&scope=mcp%3Atools&state=bench"
        let (_, pageHeaders, page) = try await send(http, "\(base)/oauth/authorize?\(query)")
        guard let cookie = pageHeaders.first(name: "Set-Cookie")?.split(separator: ";").first,
            let request = page.range(of: "name=\"request\" value=\"").map({ page[$0.upperBound...].prefix { $0 != "\"" } }),
            let csrf = page.range(of: "name=\"csrf\" value=\"").map({ page[$0.upperBound...].prefix { $0 != "\"" } })
        else {
            throw ValidationError("no consent page")
        }
        let (_, consentHeaders, _) = try await send(
            http,
            "\(base)/oauth/consent",
            method: .POST,
            cookie: String(cookie),
            contentType: "application/x-www-form-urlencoded",
            body: "request=\(request)&csrf=\(csrf)&decision=approve"
        )
        guard let upstreamURL = consentHeaders.first(name: "Location") else { throw ValidationError("no upstream redirect") }
        let (_, upstreamHeaders, _) = try await send(http, upstreamURL, host: nil)
        guard let callback = upstreamHeaders.first(name: "Location"), callback.hasPrefix("https://acme.example/") else {
            throw ValidationError("no callback")
        }
        let (status, doneHeaders, _) = try await send(http, base + callback.dropFirst("https://acme.example".count))
        guard status == 303, doneHeaders.first(name: "Location")?.contains("code=mcp_code_") == true else { throw ValidationError("no code") }
    }

    func get(_ http: HTTPClient, _ url: String) async throws -> Int { try await send(http, url).0 }

    func post(_ http: HTTPClient, _ url: String, contentType: String, body: String) async throws -> Int {
        try await send(http, url, method: .POST, contentType: contentType, body: body).0
    }

    func send(
        _ http: HTTPClient,
        _ url: String,
        method: HTTPMethod = .GET,
        host: String? = "acme.example",
        cookie: String? = nil,
        contentType: String? = nil,
        body: String? = nil
    ) async throws -> (Int, HTTPHeaders, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let host { request.headers.add(name: "X-Forwarded-Host", value: host) }
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers, String(buffer: bytes))
    }
}
