import ArgumentParser
import Foundation
import GatehouseTestSupport

/// The whole platform under load, as processes: PostgreSQL (fsync on), the development broker,
/// the development identity provider, the four services (`--instances` of each) behind the
/// nginx front door with TLS. Login workers drive complete logins, each a new person with a
/// client of their own (registration → consent → upstream sign-in → token → first tool call,
/// then one `get_support`), while call workers make steady authenticated `whoami` calls with
/// the tokens of people already signed in. Prints logins/s, tool calls/s, p50/p99 of each and
/// the resident memory of every service. The load generator (Foundation's URLSession) runs on
/// the same machine and shares its cores.
@main
struct PlatformBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gatehouse-platform-bench")

    @Option(help: "Seconds measured (after a warm-up of 3 s).")
    var seconds = 20

    @Option(help: "Concurrent login workers (people signing in one after another).")
    var loginWorkers = 4

    @Option(help: "Concurrent tool-call workers.")
    var callWorkers = 8

    @Option(help: "Instances of each service behind the front door.")
    var instances = 1

    @Option(help: "Tenants configured in all, each with its own host, issuer and upstream; one takes the load.")
    var tenants = 1

    func run() async throws {
        let postgres = try TestPostgres(durable: true)
        let database = try await postgres.makeDatabase(named: "platformbench")
        let broker = try await TestBroker()
        let upstream = try await DevIdentityProvider()
        // Every login registers a client, all from one address: the per-address limit is lifted.
        let platform = try await Platform.start(
            database: database,
            kafka: broker.bootstrapServers,
            instances: instances,
            provisioning: true,
            gatewayEnvironment: ["GATEHOUSE_REGISTRATIONS_PER_MINUTE": "100000"]
        )
        let client = PlatformClient()
        do {
            if tenants > 1 {
                let start = ContinuousClock.now
                try await platform.createIdleTenants(tenants - 1, upstream: upstream.app)
                print("\(tenants - 1) idle tenants created through the admin API and projected in \(ContinuousClock.now - start)")
            }
            let creation = ContinuousClock.now
            try await platform.createTenant(upstream: upstream.app)
            print("The measured tenant, created through the admin API, was served by every service after \(ContinuousClock.now - creation)")
            let endpoints = OAuthEndpoints(origin: platform.frontDoor.origin)
            func load(for duration: Duration) async throws -> PlatformLoad.Report {
                let load = PlatformLoad(
                    client: client,
                    endpoints: endpoints,
                    loginWorkers: loginWorkers,
                    callWorkers: callWorkers,
                    registerEachLogin: true,
                    attempts: 1
                )
                let running = Task { await load.run() }
                try await Task.sleep(for: duration)
                load.stop()
                return await running.value
            }
            _ = try await load(for: .seconds(3))
            let memoryBefore = platform.services.map { ($0.name, $0.memory) }
            let report = try await load(for: .seconds(seconds))
            print(Self.describe(report, tenants: tenants, loginWorkers: loginWorkers, callWorkers: callWorkers, instances: instances))
            print("Resident memory (MiB), at the end of the warm-up → at the end of the run (peak):")
            for (service, before) in zip(platform.services, memoryBefore) {
                let after = service.memory
                print(
                    "  " + service.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                        + String(
                            format: "%7.1f → %7.1f (%7.1f)",
                            Double(before.1?.resident ?? 0) / 1024,
                            Double(after?.resident ?? 0) / 1024,
                            Double(after?.peak ?? 0) / 1024
                        )
                )
            }
            let statuses = client.observations.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            print("Statuses: \(statuses); transport failures: \(client.observations.transportFailures.count)")
            if !report.lostLogins.isEmpty || !report.failedCalls.isEmpty {
                print(
                    "Failed: \(report.lostLogins.count) logins, \(report.failedCalls.count) calls; first: \((report.lostLogins + report.failedCalls).first ?? "")"
                )
            }
        } catch {
            print(platform.report())
            await platform.stop(client: client, upstream: upstream, broker: broker)
            throw error
        }
        await platform.stop(client: client, upstream: upstream, broker: broker)
    }

    static func describe(_ report: PlatformLoad.Report, tenants: Int, loginWorkers: Int, callWorkers: Int, instances: Int) -> String {
        let seconds = report.elapsed / .seconds(1)
        let steadyCalls = report.callLatencies.count
        return String(
            format: """
                Platform: %d tenant(s), %d instance(s) of each service, %d login workers, %d call workers, %.1f s
                  complete logins: %7.1f/s  p50 %6.1f ms  p99 %6.1f ms  (%d logins)
                  tool calls:      %7.1f/s  p50 %6.1f ms  p99 %6.1f ms  (%d steady calls; %d calls in all, with first calls and get_support)
                """,
            tenants,
            instances,
            loginWorkers,
            callWorkers,
            seconds,
            Double(report.people.count) / seconds,
            report.loginLatencies.milliseconds(at: 0.5),
            report.loginLatencies.milliseconds(at: 0.99),
            report.people.count,
            Double(steadyCalls) / seconds,
            report.callLatencies.milliseconds(at: 0.5),
            report.callLatencies.milliseconds(at: 0.99),
            steadyCalls,
            report.toolCalls + report.supportRequests
        )
    }
}
