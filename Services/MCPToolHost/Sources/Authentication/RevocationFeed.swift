import Foundation
import GatehouseEvents
import GatehouseKafka
import Logging
import ServiceLifecycle
import Synchronization

/// Every instance's own reader of the token service's events: each `token.revoked` drops the
/// tokens it names (and every token of its grant) from this instance's validator cache.
///
/// It reads all partitions of `gatehouse.tokens` from their ends by manual assignment (no
/// consumer group: every instance must see every revocation, and nothing is committed). About
/// four times a second it asks the broker for each partition's end offset and, once it has
/// read that far, tells the validator that it is current as of the moment it asked. When the
/// broker is unreachable those confirmations stop, and the validator reuses no answer older
/// than its revocation bound.
package struct RevocationFeed: Service {
    private let kafka: KafkaClientOptions
    private let validator: TokenValidator
    private let logger: Logger
    private let topic: String
    private let probeInterval: Duration

    package init(
        kafka: KafkaClientOptions,
        validator: TokenValidator,
        logger: Logger,
        topic: String = Topics.tokens,
        probeInterval: Duration = .milliseconds(250)
    ) {
        self.kafka = kafka
        self.validator = validator
        self.topic = topic
        self.probeInterval = probeInterval
        var logger = logger
        logger[metadataKey: "consumer"] = "revocation-feed"
        self.logger = logger
    }

    package func run() async throws {
        var configuration = KafkaConsumerConfiguration(client: kafka, groupID: "gatehouse-tool-host-revocations")
        configuration.autoOffsetReset = .latest
        configuration.client.extra["enable.auto.commit"] = "false"
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let stopping = Atomic<Bool>(false)
        await withGracefulShutdownHandler {
            var positions: [KafkaTopicPartition: Int64] = [:]
            while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                do {
                    if positions.isEmpty { positions = try await start(consumer) }
                    try await follow(consumer, positions: &positions, stopping: stopping)
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("Revocation feed interrupted; cached answers now age out quickly", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
        }
        do {
            try await consumer.close()
        } catch {
            logger.warning("Revocation feed close failed", metadata: ["error": "\(error)"])
        }
        logger.info("Revocation feed stopped")
    }

    /// Assigns every partition at its current end: earlier revocations concern answers this
    /// instance has not cached yet.
    private func start(_ consumer: KafkaConsumer) async throws -> [KafkaTopicPartition: Int64] {
        let count = try await consumer.partitionCount(topic: topic, timeout: .seconds(2))
        let ends = try await consumer.highWatermarks(
            of: (0..<Int32(count)).map { KafkaTopicPartition(topic: topic, partition: $0) },
            timeout: .seconds(2)
        )
        try consumer.assign(ends)
        logger.info("Revocation feed started", metadata: ["partitions": "\(count)"])
        return ends
    }

    /// Probe, catch up, confirm; read on until the next probe.
    private func follow(_ consumer: KafkaConsumer, positions: inout [KafkaTopicPartition: Int64], stopping: borrowing Atomic<Bool>) async throws {
        let clock = ContinuousClock()
        while !stopping.load(ordering: .relaxed) {
            let asked = clock.now
            let ends = try await consumer.highWatermarks(of: Array(positions.keys), timeout: .seconds(1))
            let catchUpBy = asked + .seconds(1)
            while ends.contains(where: { positions[$0.key, default: 0] < $0.value }) && clock.now < catchUpBy {
                try await read(consumer, positions: &positions, wait: .milliseconds(50))
            }
            if !ends.contains(where: { positions[$0.key, default: 0] < $0.value }) {
                validator.feedIsCurrent(asOf: asked)
            }
            let next = asked + probeInterval
            while clock.now < next && !stopping.load(ordering: .relaxed) {
                try await read(consumer, positions: &positions, wait: min(next - clock.now, .milliseconds(100)))
            }
        }
    }

    private func read(_ consumer: KafkaConsumer, positions: inout [KafkaTopicPartition: Int64], wait: Duration) async throws {
        for message in try await consumer.poll(maximum: 500, timeout: max(wait, .milliseconds(1))) {
            positions[message.topicPartition] = message.offset + 1
            guard let header = try? EventCodec.header(of: message.value), header.type == TokenRevoked.eventType.name else { continue }
            do {
                let revoked = try EventCodec.decode(TokenRevoked.self, from: message.value, header: header).payload
                validator.revoke(tokenHashes: revoked.accessTokenHashes, grantId: GrantID(revoked.grantId))
            } catch {
                logger.error("Undecodable token.revoked skipped", metadata: ["offset": "\(message.offset)", "error": "\(error)"])
            }
        }
    }
}
