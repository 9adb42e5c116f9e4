import CRdkafka
import Logging

/// librdkafka's built-in mock cluster: a Kafka-protocol broker set living inside this process,
/// listening on loopback. The development broker executable runs one; production uses Kafka.
///
/// `@unchecked Sendable`: the mock cluster API is thread-safe (it posts operations to the
/// cluster's own thread); the pointers are immutable after `init`.
public final class KafkaMockCluster: @unchecked Sendable {
    private let handle: KafkaHandle
    private let cluster: OpaquePointer
    public let brokerCount: Int32

    public init(brokers: Int32 = 1, logger: Logger) throws {
        // The mock cluster needs a client instance for its book-keeping.
        handle = try KafkaHandle(type: RD_KAFKA_PRODUCER, properties: ["log_level": "3", "socket.nagle.disable": "true"], logger: logger)
        guard let cluster = rd_kafka_mock_cluster_new(handle.pointer, brokers) else {
            throw KafkaError(code: .creation, reason: "rd_kafka_mock_cluster_new failed")
        }
        self.cluster = cluster
        self.brokerCount = brokers
    }

    deinit { rd_kafka_mock_cluster_destroy(cluster) }

    /// The bootstrap servers string clients connect to.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws {
        let error = rd_kafka_mock_topic_create(cluster, name, partitions, min(replicationFactor, brokerCount))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .creation, error: error) }
    }

    /// Takes every broker down (connections refused and closed) or brings them back.
    public func setBrokersUp(_ up: Bool) throws {
        for broker in 1...brokerCount {
            let error = up ? rd_kafka_mock_broker_set_up(cluster, broker) : rd_kafka_mock_broker_set_down(cluster, broker)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .creation, error: error) }
        }
    }
}
