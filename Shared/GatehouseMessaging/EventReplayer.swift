import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehousePostgres
import Logging

/// Rebuilds a consumer's state by reading its topics from offset 0 up to the end they had when
/// the replay started, through the same inbox and handler as live consumption.
///
/// Replaying into an empty schema reproduces the state; replaying again changes nothing (the
/// inbox has every id). A replay publishes nothing: events that could never be applied (and
/// were dead-lettered live) are counted and skipped, not dead-lettered again.
public struct EventReplayer: Sendable {
    public struct Progress: Sendable {
        public var consumed: Int64
        public var total: Int64
        public var applied: Int
    }

    public struct Result: Sendable, Equatable {
        public var consumed: Int64
        public var applied: Int
        public var skipped: Int

        public init(consumed: Int64, applied: Int, skipped: Int) {
            self.consumed = consumed
            self.applied = applied
            self.skipped = skipped
        }
    }

    public let processor: InboxProcessor
    public let kafka: KafkaClientOptions
    public let logger: Logger
    public var batchSize = 1000

    public init(processor: InboxProcessor, kafka: KafkaClientOptions, logger: Logger) {
        self.processor = processor
        self.kafka = kafka
        self.logger = logger
    }

    public func replay(progress: @Sendable (Progress) -> Void = { _ in }) async throws -> Result {
        let groupID = "\(processor.handler.consumerName)-replay-\(UUID().uuidString.lowercased())"
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: kafka, groupID: groupID), logger: logger)
        // Where each partition ends now; events produced after this are live consumption's job.
        let ranges = try await consumer.currentRanges(of: processor.handler.topics)
        let starts = ranges.mapValues(\.lowerBound)
        let ends = ranges.mapValues(\.upperBound)
        let total = ranges.values.reduce(Int64(0)) { $0 + Int64($1.count) }
        var result = Result(consumed: 0, applied: 0, skipped: 0)
        guard total > 0 else { return result }
        try consumer.assign(starts)

        // Pipelined: the next batch is polled and decoded while the database applies this one.
        var pending: Batch? = try await fetch(from: consumer, after: starts, ends: ends)
        while let batch = pending {
            async let following = batch.isLast ? nil : fetch(from: consumer, after: batch.positions, ends: ends)
            let outcome = try await apply(batch.events)
            result.consumed += batch.consumed
            result.applied += outcome.applied
            result.skipped += outcome.skipped + batch.unreadable
            progress(Progress(consumed: result.consumed, total: total, applied: result.applied))
            pending = try await following
        }
        try? await consumer.close()
        return result
    }

    private struct Batch: Sendable {
        var events: [IncomingEvent] = []
        var consumed: Int64 = 0
        var unreadable = 0
        var positions: [KafkaTopicPartition: Int64]
        var isLast = false
    }

    /// Polls the next messages before `ends` and reads them; the batch knows whether it is the last.
    private func fetch(
        from consumer: KafkaConsumer,
        after positions: [KafkaTopicPartition: Int64],
        ends: [KafkaTopicPartition: Int64]
    ) async throws -> Batch {
        var batch = Batch(positions: positions)
        func finished() -> Bool { !batch.positions.contains { $0.value < ends[$0.key]! } }
        while batch.consumed == 0 && !finished() {
            for message in try await consumer.poll(maximum: batchSize, timeout: .milliseconds(500)) {
                guard let end = ends[message.topicPartition], message.offset < end else { continue }
                batch.positions[message.topicPartition] = message.offset + 1
                batch.consumed += 1
                do {
                    batch.events.append(try InboxProcessor.incoming(message))
                } catch {
                    batch.unreadable += 1
                    logger.warning(
                        "Replay skipped an unreadable event",
                        metadata: [
                            "partition": "\(message.topicPartition)", "offset": "\(message.offset)", "error": "\(error)",
                        ]
                    )
                }
            }
        }
        batch.isLast = finished()
        return batch
    }

    /// Applies a batch, waiting out transient failures; isolates and skips deterministic ones.
    private func apply(_ events: [IncomingEvent]) async throws -> (applied: Int, skipped: Int) {
        guard !events.isEmpty else { return (0, 0) }
        var backoff: Duration = .milliseconds(100)
        while true {
            do {
                return (try await processor.apply(events), 0)
            } catch  where FailureKind.classify(error) == .transient {
                logger.warning("Replay waiting for the database", metadata: ["error": "\(PostgresFailure.describe(error))"])
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            } catch {
                break
            }
        }
        var applied = 0
        var skipped = 0
        for event in events {
            do {
                applied += try await processor.apply([event])
            } catch  where FailureKind.classify(error) == .transient {
                throw error
            } catch {
                skipped += 1
                logger.warning(
                    "Replay skipped an event it cannot apply",
                    metadata: ["event_id": "\(event.header.eventId)", "error": "\(PostgresFailure.describe(error))"]
                )
            }
        }
        return (applied, skipped)
    }
}
