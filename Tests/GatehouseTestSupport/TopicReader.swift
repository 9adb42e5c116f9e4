import Foundation
import GatehouseKafka
import Logging

/// Reads a whole topic from the beginning to its current end, outside any consumer group.
public enum TopicReader {
    public static func readAll(topic: String, kafka: KafkaClientOptions, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: kafka, groupID: "reader-\(UUID().uuidString)"),
            logger: Logger(label: "topic-reader")
        )
        let ranges = try await consumer.currentRanges(of: [topic])
        let starts = ranges.mapValues(\.lowerBound)
        let ends = ranges.mapValues(\.upperBound)
        guard !starts.isEmpty else { return [] }
        try consumer.assign(starts)
        var messages: [KafkaConsumerMessage] = []
        var positions = starts
        let deadline = ContinuousClock.now + timeout
        while positions.contains(where: { $0.value < ends[$0.key]! }) {
            guard ContinuousClock.now < deadline else { throw TestSupportError("timed out reading \(topic)") }
            for message in try await consumer.poll(maximum: 1000, timeout: .milliseconds(200)) {
                guard let end = ends[message.topicPartition], message.offset < end else { continue }
                messages.append(message)
                positions[message.topicPartition] = message.offset + 1
            }
        }
        try? await consumer.close()
        return messages
    }
}
