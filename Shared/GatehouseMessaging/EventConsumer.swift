import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehousePostgres
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Runs an `EventHandler` as a member of a Kafka consumer group.
///
/// - Offsets are stored only after the inbox transaction commits (or the message went to the
///   dead-letter topic), so nothing is lost and nothing is skipped.
/// - A transient failure (database down) pauses the affected partitions, rewinds them to the
///   first unapplied message and retries with capped exponential backoff. Nothing is
///   dead-lettered or committed for it.
/// - A deterministic failure (unreadable event, unknown major version, an event the handler
///   refuses) is retried a few times, then sent to the dead-letter topic with context headers,
///   and the partition moves on.
public final class EventConsumer: Service, Sendable {
    public struct Options: Sendable {
        public var batchSize = 500
        public var pollTimeout: Duration = .milliseconds(100)
        public var deterministicAttempts = 3
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(5)
        public var deadLetterTopic = Topics.deadLetter
        public init() {}
    }

    private let processor: InboxProcessor
    private let kafka: KafkaConsumerConfiguration
    private let deadLetters: KafkaProducer
    private let options: Options
    private let logger: Logger
    private let applied: Counter
    private let deadLettered: Counter
    private let retried: Counter

    public init(
        handler: any EventHandler,
        client: PostgresClient,
        schema: SchemaName,
        kafka: KafkaClientOptions,
        deadLetters: KafkaProducer,
        options: Options = Options(),
        logger: Logger
    ) {
        var logger = logger
        logger[metadataKey: "consumer"] = .string(handler.consumerName)
        self.processor = InboxProcessor(client: client, schema: schema, handler: handler, logger: logger)
        self.kafka = KafkaConsumerConfiguration(client: kafka, groupID: handler.consumerName)
        self.deadLetters = deadLetters
        self.options = options
        self.logger = logger
        let dimensions = [("consumer", handler.consumerName)]
        self.applied = Counter(label: "gatehouse_consumer_applied_total", dimensions: dimensions)
        self.deadLettered = Counter(label: "gatehouse_consumer_dead_lettered_total", dimensions: dimensions)
        self.retried = Counter(label: "gatehouse_consumer_retries_total", dimensions: dimensions)
    }

    public func run() async throws {
        let consumer = try KafkaConsumer(configuration: kafka, logger: logger)
        try consumer.subscribe(topics: processor.handler.topics)
        let stopping = Atomic<Bool>(false)
        var gate = PartitionGate()
        try await withGracefulShutdownHandler {
            while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                try gate.resumeDue(consumer: consumer)
                let messages = try await consumer.poll(maximum: options.batchSize, timeout: options.pollTimeout)
                if messages.isEmpty { continue }
                try await process(messages, consumer: consumer, gate: &gate)
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
        }
        do {
            try await consumer.close()
        } catch {
            logger.warning("Consumer close failed", metadata: ["error": "\(error)"])
        }
        logger.info("Consumer stopped")
    }

    /// Processes one polled batch, in order per partition.
    func process(_ messages: [KafkaConsumerMessage], consumer: KafkaConsumer, gate: inout PartitionGate) async throws {
        var blocked = Set<KafkaTopicPartition>()
        var done: [KafkaTopicPartition: Int64] = [:]
        var ready: [IncomingEvent] = []

        for message in messages {
            let partition = message.topicPartition
            if blocked.contains(partition) { continue }
            gate.arrived(partition)
            do {
                ready.append(try InboxProcessor.incoming(message))
            } catch {
                // Keep order: apply what came before this message first.
                try await flush(&ready, consumer: consumer, gate: &gate, blocked: &blocked, done: &done)
                if blocked.contains(partition) { continue }
                if try await deterministicFailure(message, error: error, consumer: consumer, gate: &gate) {
                    done[partition] = message.offset + 1
                } else {
                    blocked.insert(partition)
                }
            }
        }
        try await flush(&ready, consumer: consumer, gate: &gate, blocked: &blocked, done: &done)
        try consumer.storeOffsets(done)
    }

    private func flush(
        _ ready: inout [IncomingEvent],
        consumer: KafkaConsumer,
        gate: inout PartitionGate,
        blocked: inout Set<KafkaTopicPartition>,
        done: inout [KafkaTopicPartition: Int64]
    ) async throws {
        let events = ready.filter { !blocked.contains($0.topicPartition) }
        ready.removeAll()
        guard !events.isEmpty else { return }
        do {
            applied.increment(by: try await processor.apply(events))
            for event in events {
                done[event.topicPartition] = event.offset + 1
                gate.succeeded(event.topicPartition)
            }
            return
        } catch  where FailureKind.classify(error) == .transient {
            var first: [KafkaTopicPartition: Int64] = [:]
            for event in events where first[event.topicPartition] == nil { first[event.topicPartition] = event.offset }
            logger.warning(
                "Transient failure; pausing partitions",
                metadata: [
                    "error": "\(PostgresFailure.describe(error))", "partitions": "\(first.keys.map(\.description).sorted())",
                ]
            )
            for (partition, offset) in first {
                try await block(partition, at: offset, delay: gate.nextBackoff(partition, options: options), consumer: consumer, gate: &gate)
                blocked.insert(partition)
            }
            return
        } catch {
            // A deterministic failure somewhere in the batch: find it by applying one at a time.
        }
        for event in events where !blocked.contains(event.topicPartition) {
            do {
                applied.increment(by: try await processor.apply([event]))
                done[event.topicPartition] = event.offset + 1
                gate.succeeded(event.topicPartition)
            } catch  where FailureKind.classify(error) == .transient {
                try await block(
                    event.topicPartition,
                    at: event.offset,
                    delay: gate.nextBackoff(event.topicPartition, options: options),
                    consumer: consumer,
                    gate: &gate
                )
                blocked.insert(event.topicPartition)
            } catch {
                if try await deterministicFailure(event.message, error: error, consumer: consumer, gate: &gate, header: event.header) {
                    done[event.topicPartition] = event.offset + 1
                } else {
                    blocked.insert(event.topicPartition)
                }
            }
        }
    }

    /// Retries a message that failed for reasons of its own a few times, then dead-letters it.
    /// Returns true when the message is dealt with (dead-lettered) and the partition may move on.
    private func deterministicFailure(
        _ message: KafkaConsumerMessage,
        error: any Error,
        consumer: KafkaConsumer,
        gate: inout PartitionGate,
        header: EventHeader? = nil
    ) async throws -> Bool {
        let partition = message.topicPartition
        let attempts = gate.recordAttempt(partition, offset: message.offset)
        if attempts < options.deterministicAttempts {
            retried.increment()
            logger.info(
                "Event failed; retrying",
                metadata: [
                    "partition": "\(partition)", "offset": "\(message.offset)", "attempt": "\(attempts)",
                    "error": "\(PostgresFailure.describe(error))",
                ]
            )
            try await block(partition, at: message.offset, delay: options.initialBackoff * attempts, consumer: consumer, gate: &gate)
            return false
        }
        var headers = [
            KafkaHeader(name: "gatehouse-original-topic", string: partition.topic),
            KafkaHeader(name: "gatehouse-original-partition", string: String(partition.partition)),
            KafkaHeader(name: "gatehouse-original-offset", string: String(message.offset)),
            KafkaHeader(name: "gatehouse-consumer", string: processor.handler.consumerName),
            KafkaHeader(name: "gatehouse-error", string: String(PostgresFailure.describe(error).prefix(500))),
            KafkaHeader(name: "gatehouse-attempts", string: String(attempts)),
            KafkaHeader(name: "gatehouse-failed-at", string: Date().formatted(.iso8601)),
        ]
        if let header {
            headers.append(KafkaHeader(name: "gatehouse-event-id", string: header.eventId.uuidString.lowercased()))
            headers.append(KafkaHeader(name: "gatehouse-event-type", string: header.type))
        }
        do {
            _ = try await deadLetters.send(
                KafkaOutgoingMessage(
                    topic: options.deadLetterTopic,
                    key: message.key,
                    value: message.value,
                    headers: headers
                )
            )
        } catch {
            logger.warning("Dead-letter publish failed; will retry", metadata: ["error": "\(error)"])
            try await block(
                partition,
                at: message.offset,
                delay: gate.nextBackoff(partition, options: options),
                consumer: consumer,
                gate: &gate
            )
            return false
        }
        deadLettered.increment()
        gate.succeeded(partition)
        logger.error(
            "Event dead-lettered",
            metadata: [
                "partition": "\(partition)", "offset": "\(message.offset)", "attempts": "\(attempts)", "error": "\(PostgresFailure.describe(error))",
            ]
        )
        return true
    }

    /// Pauses a partition and rewinds it to `offset`, to be resumed after `delay`.
    private func block(
        _ partition: KafkaTopicPartition,
        at offset: Int64,
        delay: Duration,
        consumer: KafkaConsumer,
        gate: inout PartitionGate
    ) async throws {
        try consumer.pause([partition])
        do {
            try await consumer.seek([partition: offset])
        } catch {
            // The partition may have been revoked meanwhile: its next owner starts at the committed offset.
            logger.warning("Seek failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
        }
        gate.pause(partition, for: delay)
    }
}

/// Which partitions are paused until when, and how often each message has failed.
struct PartitionGate {
    private var pausedUntil: [KafkaTopicPartition: ContinuousClock.Instant] = [:]
    private var consecutiveFailures: [KafkaTopicPartition: Int] = [:]
    private var attempts: [KafkaTopicPartition: (offset: Int64, count: Int)] = [:]

    mutating func pause(_ partition: KafkaTopicPartition, for delay: Duration) {
        pausedUntil[partition] = .now + delay
    }

    /// A message arrived: the partition is flowing (a rebalance clears librdkafka's pause).
    mutating func arrived(_ partition: KafkaTopicPartition) {
        pausedUntil[partition] = nil
    }

    mutating func resumeDue(consumer: KafkaConsumer) throws {
        let now = ContinuousClock.now
        let due = pausedUntil.filter { $0.value <= now }.map(\.key)
        guard !due.isEmpty else { return }
        for partition in due { pausedUntil[partition] = nil }
        try consumer.resume(due)
    }

    /// Capped exponential backoff for consecutive transient failures of a partition.
    mutating func nextBackoff(_ partition: KafkaTopicPartition, options: EventConsumer.Options) -> Duration {
        let failures = consecutiveFailures[partition, default: 0]
        consecutiveFailures[partition] = failures + 1
        let delay = options.initialBackoff * (1 << min(failures, 16))
        return min(delay, options.maximumBackoff)
    }

    mutating func recordAttempt(_ partition: KafkaTopicPartition, offset: Int64) -> Int {
        let count = attempts[partition].map { $0.offset == offset ? $0.count + 1 : 1 } ?? 1
        attempts[partition] = (offset, count)
        return count
    }

    mutating func succeeded(_ partition: KafkaTopicPartition) {
        consecutiveFailures[partition] = nil
        attempts[partition] = nil
    }
}
