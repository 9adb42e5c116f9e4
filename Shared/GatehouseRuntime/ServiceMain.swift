import Foundation
import GatehouseHTTP
import GatehousePostgres
import Hummingbird
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The shared entry point of the service executables:
/// `<executable> [serve]` runs the service; `<executable> migrate` applies its migrations and exits.
/// A configuration error prints the variable's name and exits with status 2.
public enum ServiceMain {
    public static func run(
        definition: ServiceDefinition,
        arguments: [String] = CommandLine.arguments,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        additionalCommands: [String] = [],
        build: @Sendable (ServiceContext) async throws -> any Service
    ) async -> Int32 {
        let command = arguments.dropFirst().first ?? "serve"
        guard ["serve", "migrate"].contains(command) else {
            let commands = (["serve", "migrate"] + additionalCommands).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: \(arguments.first ?? "gatehouse") [\(commands)]\n".utf8))
            return 64
        }
        let configuration: RuntimeConfiguration
        do {
            configuration = try RuntimeConfiguration(serviceName: definition.name, defaultPort: definition.defaultPort, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("gatehouse-\(definition.name): \(error)\n".utf8))
            return 2
        }
        LoggingSystem.bootstrap(format: configuration.logging.format, level: configuration.logging.level)
        var logger = Logger(label: "gatehouse.\(definition.name)")
        logger[metadataKey: "service"] = .string(definition.name)
        let registry = MetricsRoute.bootstrap()
        do {
            // Migrations finish before any part of the service starts, with a pool of their own.
            if command == "migrate" || configuration.migrateOnStart {
                let applied = try await migrate(definition: definition, configuration: configuration, logger: logger)
                logger.info("Migrations complete", metadata: ["applied": "\(applied)"])
            }
            if command == "serve" {
                let context = try ServiceContext(definition: definition, configuration: configuration, logger: logger, registry: registry)
                let app = try await build(context)
                logger.info("Starting", metadata: ["http.port": "\(configuration.http.port)", "schema": "\(definition.schema)"])
                try await runUntilTerminated(app, configuration: configuration, logger: logger)
            }
            return 0
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("gatehouse-\(definition.name): \(error)\n".utf8))
            return 2
        } catch {
            logger.critical("Fatal error", metadata: ["error": "\(error)"])
            return 1
        }
    }

    private static func migrate(definition: ServiceDefinition, configuration: RuntimeConfiguration, logger: Logger) async throws -> [Int] {
        let client = PostgresClient(configuration: configuration.postgres.clientConfiguration, backgroundLogger: logger)
        return try await client.whileRunning {
            try await definition.migrator.migrate(client: client, logger: logger)
        }
    }
}
