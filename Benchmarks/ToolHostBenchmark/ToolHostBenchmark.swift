import ArgumentParser
import AsyncHTTPClient
import Crypto
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
import MCPToolHost
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization
import TokenService

/// Measures authenticated MCP `tools/call` (`whoami`, which also records its `tool.invoked`)
/// over real HTTP on loopback with wrk, at 16 and 64 connections, next to the same tool host
/// with authentication switched off and next to a plain Hummingbird JSON endpoint, in one run.
/// Authentication is introspection at a real token service (in this process, with its own
/// PostgreSQL schema) behind the tool host's cache, which the revocation feed keeps current
/// from the development broker, as in production; tokens come from real code redemptions.
@main
struct ToolHostBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gatehouse-toolhost-bench")

    @Option(help: "Seconds per phase.")
    var seconds = 5

    @Option(parsing: .upToNextOption, help: "Concurrent connections (clients), one set of phases each.")
    var concurrency: [Int] = [16, 64]

    @Option(help: "Distinct access tokens presented in turn.")
    var tokens = 64

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Only measure recording tool.invoked events (no HTTP), for profiling.")
    var recordingOnly = false

    @Flag(help: "Measure the proxy to a tenant's own MCP server instead (ProxyPhases).")
    var proxy = false

    @Option(help: "Tenants configured in all, each with its own host; one takes the load.")
    var tenants = 1

    @Option(help: "Runs of every phase, interleaved: figures are the median run's, with the range over the runs.")
    var runs = 3

    static let threads = 2
    static let redirect = BenchmarkCodes.redirect
    static let body = PlatformClient.toolCallBody("whoami")
    /// The same call in the stateless era: its protocol version and the client's capabilities
    /// in `_meta` (the script adds the routing headers).
    static let statelessBody =
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"#
        + #""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#

    func run() async throws {
        let logger = benchmarkLogger()
        let postgres = try TestPostgres(durable: database.durable)
        let settings = try await postgres.makeDatabase(named: "toolhostbench")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let keyRing = try KeyRing(keys: ["bench": Array(repeating: 3, count: 32)], current: "bench")
        let resourceSecret = "bench-resource-server-secret-0123456789"
        let origins = OriginResolver(defaultScheme: "https", trustedProxies: [IPNetwork("127.0.0.1")!])
        let tokenConfiguration = TokenServiceConfiguration(
            keyRing: keyRing,
            origins: origins,
            resourceServers: ["tool-host": SecretHash.of(resourceSecret)],
            limits: TokenRateLimits(requestsPerMinute: 100_000_000, failuresPerMinute: 1_000)
        )
        let tokenParts = TokenServiceService.Parts(postgres: client, logger: logger, configuration: tokenConfiguration)
        let tokenRouter = Router(context: GatehouseRequestContext.self)
        TokenServiceService.addRoutes(to: tokenRouter, parts: tokenParts, configuration: tokenConfiguration)
        let tokenPort = try freeTCPPort()
        let tokenApp = Application(router: tokenRouter, configuration: .init(address: .hostname("127.0.0.1", port: tokenPort)), logger: logger)

        let toolConfiguration = ToolHostConfiguration(
            origins: origins,
            introspection: .init(tokenServiceURL: "http://127.0.0.1:\(tokenPort)", clientId: "tool-host", secret: resourceSecret),
            sessionKey: SymmetricKey(size: .bits256),
            assertionKeys: IdentityAssertionKeys(ring: keyRing)
        )
        let toolParts = ToolHostService.Parts(postgres: client, logger: logger, configuration: toolConfiguration)
        func toolHost(authentication: Bool) throws -> (some ApplicationProtocol, Int) {
            let router = Router(context: GatehouseRequestContext.self)
            ToolHostService.addRoutes(to: router, parts: toolParts, configuration: toolConfiguration, authentication: authentication)
            let port = try freeTCPPort()
            return (Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger), port)
        }
        let broker = try await TestBroker()
        let feed = RevocationFeed(kafka: broker.clientOptions, validator: toolParts.validator, logger: logger)
        let (authenticated, authenticatedPort) = try toolHost(authentication: true)
        let (open, openPort) = try toolHost(authentication: false)
        let plainRouter = Router()
        plainRouter.post("/json") { request, context -> PlainAnswer in
            let call = try await request.decode(as: PlainCall.self, context: context)
            return PlainAnswer(jsonrpc: "2.0", id: call.id, result: .init(content: [.init(type: "text", text: "You are bench")], isError: false))
        }
        let plainPort = try freeTCPPort()
        let plain = Application(router: plainRouter, configuration: .init(address: .hostname("127.0.0.1", port: plainPort)), logger: logger)

        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-toolhost-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        print(
            "Gatehouse tool host benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores, PostgreSQL fsync \(database.fsync), "
                + "\(seconds) s per phase, loopback HTTP/1.1, servers and load on one machine; tools/call of whoami, "
                + "\(tokens) tokens in turn, \(tenants) tenant(s))"
        )

        try await client.whileRunning {
            try await TokenServiceService.definition.migrator.migrate(client: client, logger: logger)
            try await ToolHostService.definition.migrator.migrate(client: client, logger: logger)
            let clientId = "mcp_client_bench"
            let tenant = BenchmarkCodes.tenantUpdate(grants: TenantGrants(dpop: true))
            try await InboxProcessor(
                client: client,
                schema: TokenServiceService.definition.schema,
                handler: TokenProjections(schema: TokenServiceService.definition.schema),
                logger: logger
            )
            .apply([
                try incomingEvent(tenant), try incomingEvent(BenchmarkCodes.clientRegistration(clientId)),
            ])
            try await InboxProcessor(
                client: client,
                schema: ToolHostService.definition.schema,
                handler: ToolHostProjections(schema: ToolHostService.definition.schema),
                logger: logger
            )
            .apply([try incomingEvent(tenant)])
            if tenants > 1 {
                let start = ContinuousClock.now
                try await IdleTenants.project(tenants - 1, client: client, logger: logger)
                let reads = try await IdleTenants.directoryReads(toolParts.store)
                print("\(tenants - 1) idle tenants projected in \(ContinuousClock.now - start)")
                print(
                    "Tool host directory of \(reads.tenants) tenants: a full read \(reads.full.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 1)))),"
                        + " a read of what changed since \(reads.changes.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 1))))"
                )
            }

            try await withServices([tokenApp, authenticated, open, plain, feed], logger: logger) {
                try await eventually("servers listening") {
                    (try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(plainPort)/json"), timeout: .seconds(2))) != nil
                }
                try await eventually("the revocation feed is current") { toolParts.validator.revocationFeedIsCurrent }
                let recordingRate = try await Self.recordingAlone(toolParts.store, seconds: recordingOnly ? seconds : min(seconds, 3))
                print(String(format: "tool.invoked recording alone (64 tasks, batched outbox INSERTs): %.0f/s", recordingRate))
                if recordingOnly { return }
                // An access token of a user of its own, from a real redemption (bound to `key` when given).
                func mint(_ subject: String, key: DPoPKey? = nil) async throws -> String {
                    let code = try BenchmarkCodes.seal(subject: subject, clientId: clientId, scopes: ["mcp:tools", "email"], keyRing: keyRing)
                    return try await BenchmarkCodes.redeem(http, base: "http://127.0.0.1:\(tokenPort)", code: code, clientId: clientId, dpop: key)
                        .access
                }
                var accessTokens: [String] = []
                for index in 0..<tokens { accessTokens.append(try await mint("bench-\(index)")) }
                let tokenFile = work.appendingPathComponent("tokens")
                try accessTokens.joined(separator: "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
                // DPoP-bound tokens, each with a key of its own.
                var bound: [(token: String, key: DPoPKey)] = []
                for index in 0..<tokens {
                    let key = DPoPKey()
                    bound.append((try await mint("bound-\(index)", key: key), key))
                }
                let verification = try await Self.proofVerificationCost(bound[0].key, token: bound[0].token)
                print(String(format: "DPoP proof verification alone (ES256, jwt-kit; no replay check): %.0f µs per proof", verification))
                let proofFile = work.appendingPathComponent("proofs")
                let script = TestPaths.packageRoot.appendingPathComponent("scripts/wrk/mcp-call.lua").path
                if proxy {
                    let versions = VersionCounter()
                    try await ProxyPhases(
                        connections: concurrency,
                        seconds: seconds,
                        toolHostPort: authenticatedPort,
                        tokenFile: tokenFile.path,
                        script: script,
                        http: http,
                        logger: logger
                    ) { url in
                        let settings = MCPEndpointSettings(mode: .proxy, upstreamUrl: url, allowHttp: true)
                        try await InboxProcessor(
                            client: client,
                            schema: ToolHostService.definition.schema,
                            handler: ToolHostProjections(schema: ToolHostService.definition.schema),
                            logger: logger
                        )
                        .apply([try incomingEvent(BenchmarkCodes.tenantUpdate(version: versions.next(), mcp: settings))])
                        // The tool host's tenant directory is at most a second old.
                        try await Task.sleep(for: .milliseconds(1200))
                    }
                    .run()
                    return
                }

                // Every phase `runs` times, interleaved, so that a slow minute of a shared machine
                // touches every phase alike.
                var series: [Int: [Phase: WrkSeries]] = [:]
                for run in 1...runs {
                    print("Run \(run) of \(runs)")
                    for connections in concurrency {
                        for phase in Phase.allCases {
                            var environment = phase.environment(tokens: tokenFile.path)
                            if phase == .dpop {
                                // Fresh proofs (their iat in the window), one per request, never reused.
                                // Enough for 3,000 requests a second, 2.5 times the rate measured.
                                try Self.writeProofs(bound, count: seconds * 3000, to: proofFile)
                                print("Proofs written; measuring the DPoP phase")
                                environment["GATEHOUSE_BENCH_DPOP"] = proofFile.path
                                environment["GATEHOUSE_BENCH_THREADS"] = String(Self.threads)
                            }
                            let port = [Phase.plain: plainPort, .off: openPort][phase] ?? authenticatedPort
                            let result = try Wrk.run(
                                phase.title,
                                url: "http://127.0.0.1:\(port)\(phase == .plain ? "/json" : "/mcp")",
                                arguments: ["-s", script],
                                threads: Self.threads,
                                connections: connections,
                                seconds: seconds,
                                environment: environment
                            )
                            series[connections, default: [:]][phase, default: WrkSeries()].append(result)
                        }
                    }
                }
                print("")
                print("Median of \(runs) runs (range over the runs); ratios run by run. Floor: the plain JSON endpoint.")
                print(
                    "connections | plain JSON (floor) | auth off | auth on (p50, p99) | on/plain | 2026-07-28 | 2026/2025 | DPoP (p50, p99) | DPoP/bearer"
                )
                for connections in concurrency {
                    let row = series[connections] ?? [:]
                    let plain = row[.plain] ?? WrkSeries()
                    let on = row[.on] ?? WrkSeries()
                    let stateless = row[.stateless] ?? WrkSeries()
                    let dpop = row[.dpop] ?? WrkSeries()
                    let onPlain = on.ratio(to: plain)
                    let target =
                        onPlain.median >= 0.5 && (connections != 16 || (Wrk.Result.milliseconds(on.median.p99) ?? .infinity) < 10)
                        ? "target met" : "target NOT met"
                    print(
                        "\(String(connections).leftPadded(11)) | \(plain.rate) | \((row[.off] ?? WrkSeries()).rate) | "
                            + "\(on.rate) (\(on.median.p50), \(on.median.p99)) | \(onPlain.text) \(target) | \(stateless.rate) | "
                            + stateless.ratio(to: on).text + " | \(dpop.rate) (\(dpop.median.p50), \(dpop.median.p99)) | " + dpop.ratio(to: on).text
                    )
                }
                print("Target (issue 18): DPoP-bound tools/call >= 0.85 of the bearer figure.")
                print("Target (issue 20): authenticated tools/call >= 0.5 of the plain endpoint at 16 and 64 connections, p99 < 10 ms at 16.")
                let recorded = try await client.rowCount(of: "outbox", in: ToolHostService.definition.schema)
                print("tool.invoked events recorded: \(recorded)")
                print(
                    "Resident memory of this process (token service, tool host, plain endpoint): \(ProcessMemory.current().map { "\($0.resident / 1024) MiB" } ?? "unknown")"
                )
            }
        }
        try await tokenParts.shutdown()
        try await toolParts.shutdown()
        await broker.process.killHard()
        try await http.shutdown()
        try? FileManager.default.removeItem(at: work)
    }

    /// Microseconds one DPoP proof takes to verify (parse, key, signature, claims), alone.
    static func proofVerificationCost(_ key: DPoPKey, token: String) async throws -> Double {
        let proofs = (0..<2000).map { _ in key.proof("POST", "https://acme.example/mcp", token: token) }
        let start = ContinuousClock.now
        for proof in proofs { _ = try await DPoPProof.verify(proof, method: "POST", url: "https://acme.example/mcp", accessToken: token) }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1e6 / Double(proofs.count) + Double(elapsed.components.attoseconds) / 1e12 / Double(proofs.count)
    }

    /// `count` lines of "token<TAB>proof", the tokens in turn, each proof of its token's key.
    static func writeProofs(_ bound: [(token: String, key: DPoPKey)], count: Int, to file: URL) throws {
        var lines = ""
        lines.reserveCapacity(count * 700)
        for index in 0..<count {
            let (token, key) = bound[index % bound.count]
            lines += token + "\t" + key.quickProof("POST", "https://acme.example/mcp", token: token) + "\n"
        }
        try lines.write(to: file, atomically: true, encoding: .utf8)
    }

    /// Events recorded per second by 64 tasks that do nothing else.
    static func recordingAlone(_ store: ToolHostStore, seconds: Int) async throws -> Double {
        let start = ContinuousClock.now
        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<64 {
                group.addTask {
                    var recorded = 0
                    while ContinuousClock.now - start < .seconds(seconds) {
                        try await store.record(
                            OutboxRecord(
                                EventEnvelope(
                                    tenant: "acme",
                                    aggregateKey: "usr_\(task)",
                                    aggregateVersion: 1,
                                    payload: ToolInvoked(
                                        invocationId: UUID().uuidString,
                                        userId: "usr_\(task)",
                                        clientId: "mcp_client_bench",
                                        tool: "whoami",
                                        outcome: .success,
                                        durationMs: 0.5
                                    )
                                )
                            )
                        )
                        recorded += 1
                    }
                    return recorded
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(count) / Double(seconds)
    }
}

/// The tenant's next aggregate version, for the proxy phases' changes.
final class VersionCounter: Sendable {
    private let value = Mutex<Int64>(1)
    func next() -> Int64 {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}

/// The phases of the tool-call benchmark, in the order each run measures them.
enum Phase: CaseIterable, Hashable {
    case plain, off, on, stateless, dpop

    var title: String {
        switch self {
        case .plain: "plain Hummingbird JSON endpoint (POST /json)"
        case .off: "tools/call, authentication off"
        case .on: "tools/call, authenticated (bearer, introspection + cache)"
        case .stateless: "tools/call, authenticated, 2026-07-28 (no session, _meta and routing headers)"
        case .dpop: "tools/call, DPoP-bound token with a fresh proof per request"
        }
    }

    func environment(tokens: String) -> [String: String] {
        switch self {
        case .plain, .off: ["GATEHOUSE_BENCH_BODY": ToolHostBenchmark.body]
        case .on: ["GATEHOUSE_BENCH_BODY": ToolHostBenchmark.body, "GATEHOUSE_BENCH_TOKENS": tokens]
        case .dpop: ["GATEHOUSE_BENCH_BODY": ToolHostBenchmark.body]
        case .stateless:
            [
                "GATEHOUSE_BENCH_BODY": ToolHostBenchmark.statelessBody, "GATEHOUSE_BENCH_TOKENS": tokens,
                "GATEHOUSE_BENCH_PROTOCOL": "2026-07-28",
            ]
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// The plain endpoint's request and answer: the same JSON-RPC shape, through Hummingbird's
/// own Codable request decoding and response encoding.
struct PlainCall: Decodable {
    var jsonrpc: String
    var id: Int
    var method: String
}

struct PlainAnswer: ResponseEncodable {
    struct Result: Encodable {
        struct Content: Encodable {
            var type: String
            var text: String
        }
        var content: [Content]
        var isError: Bool
    }
    var jsonrpc: String
    var id: Int
    var result: Result
}
