import ArgumentParser
import Foundation
import GatehouseEvents
import GatehouseKafka
import Logging

/// The development broker: librdkafka's mock cluster as a standalone process.
///
/// Prints `BOOTSTRAP <host:port,...>` on its first line, creates the platform's topics, and
/// runs until SIGTERM/SIGINT. Commands on standard input drive fault tests:
/// `down` / `up` (all brokers), `topic NAME PARTITIONS`. Each command answers `OK ...` or
/// `ERROR ...` on one line. Local runs and tests use it; production uses Apache Kafka.
@main
struct DevBroker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse-dev-broker",
        abstract: "Runs librdkafka's mock Kafka cluster as a local broker for development and tests."
    )

    @Option(help: "Number of brokers in the cluster.")
    var brokers: Int32 = 1

    @Option(help: "Partitions of each platform topic.")
    var partitions: Int32 = 6

    @Option(help: "Extra topics to create, comma-separated.")
    var topics: String = ""

    @Option(help: "Also write the bootstrap address to this file.")
    var bootstrapFile: String?

    @Flag(help: "Exit when standard input closes.")
    var exitOnStdinEof = false

    @Flag(help: "Exit when the parent process exits (tests).")
    var exitWithParent = false

    func run() throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        var logger = Logger(label: "gatehouse.dev-broker")
        logger.logLevel = .warning
        let cluster = try KafkaMockCluster(brokers: brokers, logger: logger)
        let extra = topics.split(separator: ",").map(String.init)
        for topic in Topics.all + extra {
            try cluster.createTopic(topic, partitions: partitions)
        }
        let bootstrap = cluster.bootstrapServers
        if let bootstrapFile {
            try Data((bootstrap + "\n").utf8).write(to: URL(fileURLWithPath: bootstrapFile), options: .atomic)
        }
        Self.say("BOOTSTRAP \(bootstrap)")

        let commands = Thread {
            while let line = readLine() {
                Self.say(Self.execute(line, on: cluster))
            }
            if exitOnStdinEof { Foundation.exit(0) }
        }
        commands.name = "dev-broker-commands"
        commands.start()

        if exitWithParent {
            let parent = getppid()
            let watcher = Thread {
                while getppid() == parent { usleep(250_000) }
                Foundation.exit(0)
            }
            watcher.name = "dev-broker-parent-watch"
            watcher.start()
        }

        // Wait for SIGTERM/SIGINT (blocked in every thread, so only sigwait sees them).
        var received: Int32 = 0
        sigwait(&signals, &received)
        withExtendedLifetime(cluster) {}
    }

    static func execute(_ line: String, on cluster: KafkaMockCluster) -> String {
        let words = line.split(separator: " ").map(String.init)
        do {
            switch words.first {
            case "down":
                try cluster.setBrokersUp(false)
                return "OK down"
            case "up":
                try cluster.setBrokersUp(true)
                return "OK up"
            case "topic" where words.count == 3:
                guard let count = Int32(words[2]), count > 0 else { return "ERROR partitions must be a positive integer" }
                try cluster.createTopic(words[1], partitions: count)
                return "OK topic \(words[1])"
            default:
                return "ERROR unknown command (down | up | topic NAME PARTITIONS)"
            }
        } catch {
            return "ERROR \(error)"
        }
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
