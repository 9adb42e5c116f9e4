import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging

/// An event as a consumer would receive it from its topic, for applying it straight through an
/// inbox processor (test and benchmark set-up without a broker round trip).
public func incomingEvent<P: EventPayload>(_ envelope: EventEnvelope<P>, offset: Int64 = 0) throws -> IncomingEvent {
    try InboxProcessor.incoming(
        KafkaConsumerMessage(
            topicPartition: KafkaTopicPartition(topic: P.eventType.topic, partition: 0),
            offset: offset,
            key: Array(envelope.header.aggregateKey.utf8),
            value: try EventCodec.encode(envelope)
        )
    )
}
