import ArgumentParser
import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import TokenService

/// Measures the token service over real HTTP on loopback with wrk (server and load share the
/// machine): code redemption, refresh rotation (every request presents the newest token of its
/// family) and introspection, each with requests/s and p50/p99. It starts its own PostgreSQL
/// cluster (fsync on unless `--no-durable`); codes are sealed as the gateway seals them.
@main
struct TokenBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gatehouse-token-bench")

    @Option(help: "Seconds per phase.")
    var seconds = 5

    @Option(help: "Concurrent connections (clients).")
    var concurrency = 16

    @Option(help: "Codes generated for the redemption phase (each is redeemed once).")
    var codes = 40_000

    @OptionGroup var database: DatabaseOptions

    static let threads = 2
    static let redirect = BenchmarkCodes.redirect

    func run() async throws {
        let logger = benchmarkLogger()
        let postgres = try TestPostgres(durable: database.durable)
        let settings = try await postgres.makeDatabase(named: "tokenbench")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let keyRing = try KeyRing(keys: ["bench": Array(repeating: 3, count: 32)], current: "bench")
        let resourceSecret = "bench-resource-server-secret-0123456789"
        let configuration = TokenServiceConfiguration(
            keyRing: keyRing,
            origins: OriginResolver(defaultScheme: "https", trustedProxies: [IPNetwork("127.0.0.1")!]),
            resourceServers: ["bench-rs": SecretHash.of(resourceSecret)],
            limits: TokenRateLimits(requestsPerMinute: 100_000_000, failuresPerMinute: 1_000)
        )
        let parts = TokenServiceService.Parts(postgres: client, logger: logger, configuration: configuration)
        let router = Router(context: GatehouseRequestContext.self)
        TokenServiceService.addRoutes(to: router, parts: parts, configuration: configuration)
        let port = try freeTCPPort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        let base = "http://127.0.0.1:\(port)"
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-token-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        print(
            "Gatehouse token service benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores, PostgreSQL fsync \(database.fsync), "
                + "\(seconds) s per phase, \(concurrency) connections, loopback HTTP/1.1, server and load on one machine)"
        )

        try await client.whileRunning {
            try await TokenServiceService.definition.migrator.migrate(client: client, logger: logger)
            let clientId = "mcp_client_bench"
            let processor = InboxProcessor(
                client: client,
                schema: TokenServiceService.definition.schema,
                handler: TokenProjections(schema: TokenServiceService.definition.schema),
                logger: logger
            )
            try await processor.apply([
                try incomingEvent(BenchmarkCodes.tenantUpdate()), try incomingEvent(BenchmarkCodes.clientRegistration(clientId)),
            ])
            try await withServices([app], logger: logger) {
                try await eventually("token service listening") {
                    (try? await http.execute(HTTPClientRequest(url: "\(base)/oauth/jwks"), timeout: .seconds(2))) != nil
                }
                // The floor: an endpoint of the same server that touches no database.
                try Wrk.run(
                    "floor: key set (GET /oauth/jwks, no database)",
                    url: "\(base)/oauth/jwks",
                    arguments: ["-H", "X-Forwarded-Host: acme.example"],
                    threads: Self.threads,
                    connections: concurrency,
                    seconds: seconds
                )
                // Redemption: fresh codes, each presented once, in the order wrk's threads take them.
                let bodies = try (0..<codes).map { index in
                    BenchmarkCodes.redemption(try Self.code(index, clientId: clientId, keyRing: keyRing), clientId: clientId)
                }
                let codeFile = work.appendingPathComponent("codes")
                try bodies.joined(separator: "\n").write(to: codeFile, atomically: true, encoding: .utf8)
                let redemption = try Wrk.run(
                    "code redemption (POST /oauth/token, authorization_code)",
                    url: "\(base)/oauth/token",
                    arguments: ["-s", Self.script("token-redeem.lua")],
                    threads: Self.threads,
                    connections: concurrency,
                    seconds: seconds,
                    environment: [
                        "GATEHOUSE_BENCH_BODIES": codeFile.path,
                        "GATEHOUSE_BENCH_THREADS": String(Self.threads),
                    ]
                )

                // Refresh: one family per connection, always rotated with its newest token.
                var families: [String] = []
                var accessToken = ""
                for index in 0..<(concurrency + Self.threads) {  // one spare per thread: see token-refresh.lua
                    let (access, refresh) = try await BenchmarkCodes.redeem(
                        http,
                        base: base,
                        code: try Self.code(codes + index, clientId: clientId, keyRing: keyRing),
                        clientId: clientId
                    )
                    families.append(refresh)
                    accessToken = access
                }
                let refreshFile = work.appendingPathComponent("refresh")
                try families.joined(separator: "\n").write(to: refreshFile, atomically: true, encoding: .utf8)
                let refresh = try Wrk.run(
                    "refresh rotation (POST /oauth/token, refresh_token)",
                    url: "\(base)/oauth/token",
                    arguments: ["-s", Self.script("token-refresh.lua")],
                    threads: Self.threads,
                    connections: concurrency,
                    seconds: seconds,
                    environment: [
                        "GATEHOUSE_BENCH_BODIES": refreshFile.path, "GATEHOUSE_BENCH_CLIENT": clientId,
                        "GATEHOUSE_BENCH_THREADS": String(Self.threads),
                    ]
                )

                // Introspection of an active token by a resource server.
                let authorization = "Basic " + Data("bench-rs:\(resourceSecret)".utf8).base64EncodedString()
                let introspection = try Wrk.run(
                    "introspection (POST /oauth/introspect)",
                    url: "\(base)/oauth/introspect",
                    arguments: ["-s", Self.script("token-introspect.lua")],
                    threads: Self.threads,
                    connections: concurrency,
                    seconds: seconds,
                    environment: ["GATEHOUSE_BENCH_TOKEN": accessToken, "GATEHOUSE_BENCH_AUTHORIZATION": authorization]
                )
                print("")
                print(
                    String(
                        format: "Targets (%d connections): refresh >= 1,000/s (%@), introspection >= 3,000/s (%@), p99 < 20 ms "
                            + "(refresh %@, introspection %@); redemption %.0f/s (p99 %@)",
                        concurrency,
                        refresh.requestsPerSecond >= 1_000 ? "met" : "NOT met",
                        introspection.requestsPerSecond >= 3_000 ? "met" : "NOT met",
                        refresh.p99,
                        introspection.p99,
                        redemption.requestsPerSecond,
                        redemption.p99
                    )
                )
            }
        }
        try await http.shutdown()
        try? FileManager.default.removeItem(at: work)
    }

    static func script(_ name: String) -> String {
        TestPaths.packageRoot.appendingPathComponent("scripts/wrk/\(name)").path
    }

    /// A code of one of 1,000 users, valid for the whole run (a phase may start a while after the
    /// codes are sealed).
    static func code(_ index: Int, clientId: String, keyRing: KeyRing) throws -> String {
        try BenchmarkCodes.seal(
            subject: "bench-\(index % 1000)",
            clientId: clientId,
            scopes: ["mcp:tools"],
            keyRing: keyRing,
            issuedAt: Date().addingTimeInterval(30)
        )
    }
}
