import ArgumentParser
import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseTestSupport
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Measures the event backbone on this machine: outbox → relay → broker → consumer → inbox.
///
/// 1. Lag: events are written at a steady rate (one transaction every 10 ms); lag is the time
///    from the event's `occurred_at` (set as its transaction builds it) to the moment the
///    consumer applies it.
/// 2. Throughput: a backlog of events is committed to the outbox while no relay runs, then a
///    relay starts; events/s is the backlog divided by the time until the consumer applied all.
///
/// It starts its own PostgreSQL cluster (fsync on unless `--no-durable`) and broker process.
@main
struct BackboneBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gatehouse-backbone-bench")

    @Option(help: "Events in the throughput backlog.")
    var events = 50_000

    @Option(help: "Events per second in the lag phase.")
    var rate = 1_000

    @Option(help: "Seconds of the lag phase.")
    var seconds = 10

    @Option(help: "Distinct aggregate keys.")
    var keys = 1_000

    @Option(help: "Extra librdkafka properties for producer and consumer, k=v,k=v.")
    var kafkaOptions = ""

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = benchmarkLogger()
        let postgres = try TestPostgres(durable: database.durable)
        let broker = try await TestBroker()
        let settings = try await postgres.makeDatabase(named: "bench")
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        let source = try SchemaName("ledger")
        let view = try SchemaName("view")
        let topic = "bench-ledger"
        try await broker.createTopic(topic)

        print(
            "Gatehouse backbone benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores, PostgreSQL fsync \(database.fsync), dev broker)"
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await Migrator(schema: source, migrations: Ledger.sourceMigrations).migrate(client: client, logger: logger)
            try await Migrator(schema: view, migrations: Ledger.projectionMigrations).migrate(client: client, logger: logger)

            let recorder = LagRecorder()
            let handler = RecordingProjection(
                inner: Ledger.Projection(consumerName: "bench-view", topics: [topic], schema: view),
                recorder: recorder
            )
            var kafka = broker.clientOptions
            for pair in kafkaOptions.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { kafka.extra[parts[0]] = parts[1] }
            }
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: kafka), logger: logger)
            let relay = OutboxRelay(client: client, settings: settings, schema: source, producer: producer, logger: logger)
            let consumer = EventConsumer(
                handler: handler,
                client: client,
                schema: view,
                kafka: kafka,
                deadLetters: producer,
                logger: logger
            )
            let services = ServiceGroup(configuration: .init(services: [producer, consumer], logger: logger))
            group.addTask { try await services.run() }

            // Warm-up, straight to the topic: the consumer has joined its group once it came through.
            let warmUp = EventEnvelope(
                tenant: "bench",
                aggregateKey: "warm-up",
                aggregateVersion: 1,
                payload: Ledger.Deposited(amount: 0, balance: 0)
            )
            _ = try await producer.send(KafkaOutgoingMessage(topic: topic, key: Array("warm-up".utf8), value: try EventCodec.encode(warmUp)))
            while recorder.count < 1 { try await Task.sleep(for: .milliseconds(5)) }
            recorder.reset()

            var random = SeededGenerator(seed: 99)

            // 1. Lag at a steady rate, with the relay running.
            let relayGroup = ServiceGroup(configuration: .init(services: [relay], logger: logger))
            group.addTask { try await relayGroup.run() }
            recorder.reset()
            let perTransaction = max(1, rate / 100)
            let total = rate * seconds
            var sent = 0
            var deadline = ContinuousClock.now
            while sent < total {
                let batch = (0..<perTransaction).map { _ in
                    (key: "acct-\(Int.random(in: 0..<keys, using: &random))", amount: Int64(1))
                }
                try await Ledger.deposit(batch, schema: source, topic: topic, client: client, logger: logger)
                sent += batch.count
                deadline += .milliseconds(10)
                try await Task.sleep(until: deadline, clock: .continuous)
            }
            while recorder.count < total { try await Task.sleep(for: .milliseconds(5)) }
            let (lags, relayLags) = recorder.latencies
            print(
                String(
                    format: "lag at %d events/s over %d s (%d events): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                    rate,
                    seconds,
                    lags.count,
                    lags.milliseconds(at: 0.5),
                    lags.milliseconds(at: 0.99),
                    lags.maximumMilliseconds
                )
            )
            print(
                String(
                    format: "  of which commit → handed to the producer by the relay: p50 %.1f ms, p99 %.1f ms",
                    relayLags.milliseconds(at: 0.5),
                    relayLags.milliseconds(at: 0.99)
                )
            )
            // 2. Throughput: with the relay stopped, a backlog is committed to the outbox; then a
            //    relay starts, and the clock runs until the consumer has applied every event.
            await relayGroup.triggerGracefulShutdown()
            try await Task.sleep(for: .seconds(1))  // let the first relay finish its last pass
            recorder.reset()
            var written = 0
            while written < events {
                let batch = (0..<min(500, events - written)).map { _ in
                    (key: "acct-\(Int.random(in: 0..<keys, using: &random))", amount: Int64(1))
                }
                try await Ledger.deposit(batch, schema: source, topic: topic, client: client, logger: logger)
                written += batch.count
            }
            let backlogRelay = OutboxRelay(client: client, settings: settings, schema: source, producer: producer, logger: logger)
            let backlogGroup = ServiceGroup(configuration: .init(services: [backlogRelay], logger: logger))
            let start = ContinuousClock.now
            group.addTask { try await backlogGroup.run() }
            while recorder.count < events { try await Task.sleep(for: .milliseconds(2)) }
            let elapsed = ContinuousClock.now - start
            print(
                String(
                    format: "throughput: %d events outbox→relay→broker→consumer in %.2f s = %.0f events/s",
                    events,
                    elapsed.seconds,
                    Double(events) / elapsed.seconds
                )
            )

            await backlogGroup.triggerGracefulShutdown()
            await services.triggerGracefulShutdown()
        }
        await broker.process.terminate()
        try? await postgres.stop()
    }
}

/// Wraps the ledger projection to record, for each event it applies, the time since the event
/// occurred.
struct RecordingProjection: EventHandler {
    let inner: Ledger.Projection
    let recorder: LagRecorder
    var consumerName: String { inner.consumerName }
    var topics: [String] { inner.topics }
    func handles(_ header: EventHeader) -> Bool { inner.handles(header) }
    func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws {
        try await apply([event], on: connection, logger: logger)
    }
    func apply(_ events: [IncomingEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await inner.apply(events, on: connection, logger: logger)
        let now = Date()
        for event in events {
            // The record's timestamp is when the relay handed it to the producer.
            let produced = event.message.timestampMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }
            recorder.record(
                now.timeIntervalSince(event.header.occurredAt),
                toRelay: produced.map { $0.timeIntervalSince(event.header.occurredAt) } ?? 0
            )
        }
    }
}

final class LagRecorder: Sendable {
    private let state = Mutex<(total: Latencies, toRelay: Latencies)>((Latencies(), Latencies()))
    func record(_ lag: Double, toRelay: Double) {
        state.withLock {
            $0.total.record(.seconds(lag))
            $0.toRelay.record(.seconds(toRelay))
        }
    }
    func reset() { state.withLock { $0 = (Latencies(), Latencies()) } }
    var count: Int { state.withLock { $0.total.count } }
    /// Event lags from commit to the consumer, and from commit to the producer.
    var latencies: (total: Latencies, toRelay: Latencies) { state.withLock { $0 } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
