import CRdkafka

/// An error from the Kafka layer. Its description names what failed and librdkafka's reason;
/// it never contains message payloads.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// What kind of operation failed.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable { case configuration, creation, produce, delivery, consume, offsets, metadata, closed }
        fileprivate let base: Base
        public static let configuration = Code(base: .configuration)
        public static let creation = Code(base: .creation)
        public static let produce = Code(base: .produce)
        public static let delivery = Code(base: .delivery)
        public static let consume = Code(base: .consume)
        public static let offsets = Code(base: .offsets)
        public static let metadata = Code(base: .metadata)
        public static let closed = Code(base: .closed)
        public var description: String { base.rawValue }
    }

    public let code: Code
    /// librdkafka's `rd_kafka_resp_err_t`, when there is one.
    public let librdkafkaCode: Int32?
    public let reason: String
    /// Whether trying again later may succeed (timeouts, brokers down, queue full).
    public let isRetriable: Bool
    /// A fatal producer error: the handle must be recreated.
    public let isFatal: Bool

    init(code: Code, reason: String, librdkafkaCode: Int32? = nil, isRetriable: Bool = false, isFatal: Bool = false) {
        self.code = code
        self.reason = reason
        self.librdkafkaCode = librdkafkaCode
        self.isRetriable = isRetriable
        self.isFatal = isFatal
    }

    init(code: Code, error: rd_kafka_resp_err_t) {
        let fatal = error == RD_KAFKA_RESP_ERR__FATAL
        self.init(
            code: code,
            reason: String(cString: rd_kafka_err2str(error)),
            librdkafkaCode: error.rawValue,
            isRetriable: !fatal && Self.retriableCodes.contains(error),
            isFatal: fatal
        )
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(code: Code, consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        let fatal = rd_kafka_error_is_fatal(error) != 0
        self.init(
            code: code,
            reason: String(cString: rd_kafka_error_string(error)),
            librdkafkaCode: rd_kafka_error_code(error).rawValue,
            isRetriable: rd_kafka_error_is_retriable(error) != 0 || Self.retriableCodes.contains(rd_kafka_error_code(error)),
            isFatal: fatal
        )
    }

    private static let retriableCodes: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
    ]

    public var description: String {
        if let librdkafkaCode { return "KafkaError.\(code) (\(librdkafkaCode)): \(reason)" }
        return "KafkaError.\(code): \(reason)"
    }
}
