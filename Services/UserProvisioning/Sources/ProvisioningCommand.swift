import ArgumentParser
import Foundation
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// The operator commands of `gatehouse-provisioning` (besides `serve` and `migrate`):
/// `replay` rebuilds the state from the topics; `users list` and `users show` read it.
/// They read the same `GATEHOUSE_*` variables as the service.
package struct ProvisioningCommand: AsyncParsableCommand {
    package static let names: Set<String> = ["replay", "users"]

    package static let configuration = CommandConfiguration(
        commandName: "gatehouse-provisioning",
        abstract: "Operator commands of the user provisioning service.",
        subcommands: [Replay.self, Users.self]
    )

    package init() {}

    /// Parses and runs an operator command (`arguments` without the executable's name); exits
    /// with a usage message and status 64 (or 1 for a failure) when it does not succeed.
    package static func run(_ arguments: [String]) async {
        await main(arguments)
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the provisioning state from offset 0 of its topics into an empty schema.",
            discussion: """
                Reads upstream-token.stored and tool.invoked up to the end the topics have when it starts and \
                applies them through the inbox, publishing nothing. Stop the service (or replay into another \
                schema) first; afterwards compare or swap schemas.
                """
        )

        @Option(help: "The schema to rebuild into; it must be empty or not exist.")
        var schema: String = "provisioning_replay"

        @Flag(help: "Continue an interrupted replay into a schema that already holds part of the state.")
        var resume = false

        @Option(help: "Events per transaction.")
        var batchSize: Int = 2000

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let configuration = try RuntimeConfiguration(serviceName: "provisioning", defaultPort: 0, environment: environment)
            let logger = commandLogger(configuration.logging.level)
            let target = try SchemaName(schema)
            let client = PostgresClient(configuration: configuration.postgres.clientConfiguration, backgroundLogger: logger)
            var replay = ProvisioningReplay(client: client, schema: target, kafka: configuration.kafka, logger: logger)
            replay.batchSize = max(1, batchSize)
            let bar = ProgressBar()
            let started = ContinuousClock.now
            let result = try await client.whileRunning {
                try await replay.run(resume: resume) { bar.update(done: $0.consumed, total: $0.total, applied: $0.applied) }
            }
            bar.finish()
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            print(
                "Replayed \(result.consumed) events into \(target): \(result.applied) applied, \(result.skipped) skipped"
                    + " in \(String(format: "%.1f", seconds)) s"
            )
        }
    }

    struct Users: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read the users of a tenant.", subcommands: [List.self, Show.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a tenant's users, a page at a time.")
            @Option(help: "The tenant id.") var tenant: String
            @Option(help: "Users per page (1-\(UserDirectory.maximumPageSize)).") var limit: Int = UserDirectory.defaultPageSize
            @Option(help: "Start after this user id (the previous page's next cursor).") var after: String?
            @Flag(help: "Print JSON instead of a table.") var json = false

            func validate() throws {
                guard (1...UserDirectory.maximumPageSize).contains(limit) else {
                    throw ValidationError("--limit must be between 1 and \(UserDirectory.maximumPageSize)")
                }
            }

            func run() async throws {
                let page = try await withDirectory { try await $0.list(tenant: tenant, limit: limit, after: after) }
                if json { return try printJSON(page) }
                print(["USER", "EMAIL", "VERIFIED", "NAME", "IDENTITIES", "FIRST SEEN", "LAST SEEN"].joined(separator: "\t"))
                for user in page.users {
                    print(
                        [
                            user.userId, user.email ?? "-", user.emailVerified ? "yes" : "no", user.name ?? "-",
                            String(user.identities.count), user.firstSeenAt.formatted(.iso8601), user.lastSeenAt.formatted(.iso8601),
                        ]
                        .joined(separator: "\t")
                    )
                }
                if let next = page.nextCursor { print("More: --after \(next)") }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show one user: identities, email history, tool usage.")
            @Option(help: "The tenant id.") var tenant: String
            @Argument(help: "The user id (of the account or of one of its identities).") var userId: String

            func run() async throws {
                guard let user = try await withDirectory({ try await $0.show(tenant: tenant, id: userId) }) else {
                    throw CleanExit.message("No user \(userId) in tenant \(tenant)")
                }
                try printJSON(user)
            }
        }
    }
}

private func commandLogger(_ level: Logger.Level) -> Logger {
    var logger = Logger(label: "gatehouse.provisioning.command") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = max(level, .warning)
    return logger
}

/// Runs `body` with a directory over the live schema; needs only the `GATEHOUSE_PG_*` variables.
private func withDirectory<T: Sendable>(_ body: (UserDirectory) async throws -> T) async throws -> T {
    let settings = try RuntimeConfiguration.postgresSettings(environment: ProcessInfo.processInfo.environment)
    let logger = commandLogger(.warning)
    var quiet = logger
    quiet.logLevel = .error  // the pool's start-up chatter is not for an operator's terminal
    let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: quiet)
    return try await client.whileRunning {
        try await body(UserDirectory(client: client, schema: ProvisioningService.definition.schema, logger: logger))
    }
}

private func printJSON(_ value: some Encodable) throws {
    let encoder = JSONBody.encoder()
    encoder.outputFormatting.insert(.prettyPrinted)
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A one-line progress bar on standard error, redrawn in place.
final class ProgressBar: Sendable {
    private let isTerminal = isatty(STDERR_FILENO) == 1

    func update(done: Int64, total: Int64, applied: Int) {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let line =
            "[\(String(repeating: "#", count: filled))\(String(repeating: "-", count: width - filled))] "
            + "\(Int(fraction * 100))% \(done)/\(total) events, \(applied) applied"
        FileHandle.standardError.write(Data((isTerminal ? "\r\(line)" : "\(line)\n").utf8))
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
