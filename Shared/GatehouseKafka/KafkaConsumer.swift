import CRdkafka
import Logging

/// A Kafka consumer in a consumer group, or with a manual assignment (replay).
///
/// Offsets are stored only when the caller says a message is processed (`storeOffsets`), and
/// the background committer commits only stored offsets: at-least-once delivery. Every
/// blocking librdkafka call runs on the consumer's own thread.
public final class KafkaConsumer: Sendable {
    private let handle: KafkaHandle
    private let worker: BlockingWorker
    public let groupID: String

    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws {
        self.groupID = configuration.groupID
        self.handle = try KafkaHandle(type: RD_KAFKA_CONSUMER, properties: configuration.properties, logger: logger) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        rd_kafka_poll_set_consumer(handle.pointer)
        self.worker = BlockingWorker(name: "gatehouse-kafka-consumer")
    }

    deinit { worker.stop() }

    /// Joins the group for `topics`.
    public func subscribe(topics: [String]) throws {
        let list = PartitionList(topics.map { ($0, RD_KAFKA_PARTITION_UA, Int64(RD_KAFKA_OFFSET_INVALID)) })
        let error = rd_kafka_subscribe(handle.pointer, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .consume, error: error) }
    }

    /// Reads exactly these partitions from these offsets, outside group management.
    public func assign(_ offsets: [KafkaTopicPartition: Int64]) throws {
        let list = PartitionList(offsets.map { ($0.key.topic, $0.key.partition, $0.value) })
        let error = rd_kafka_assign(handle.pointer, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .consume, error: error) }
    }

    /// Waits up to `timeout` for a first message, then takes whatever else is already
    /// fetched, up to `maximum` messages in all.
    public func poll(maximum: Int, timeout: Duration) async throws -> [KafkaConsumerMessage] {
        try await worker.run { [handle] in
            var messages: [KafkaConsumerMessage] = []
            var wait = Int32(timeout.milliseconds)
            while messages.count < maximum {
                guard let raw = rd_kafka_consumer_poll(handle.pointer, wait) else { break }
                defer { rd_kafka_message_destroy(raw) }
                wait = 0
                let error = raw.pointee.err
                if error == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let kafkaError = KafkaError(code: .consume, error: error)
                    // Transient client-side conditions are reported and polling goes on.
                    handle.logger.warning("Kafka consume error", metadata: ["error": "\(kafkaError)"])
                    if kafkaError.isFatal { throw kafkaError }
                    continue
                }
                messages.append(KafkaConsumerMessage(raw))
            }
            return messages
        }
    }

    /// Marks everything before `offset` (exclusive) as processed on each partition.
    public func storeOffsets(_ next: [KafkaTopicPartition: Int64]) throws {
        guard !next.isEmpty else { return }
        let list = PartitionList(next.map { ($0.key.topic, $0.key.partition, $0.value) })
        let error = rd_kafka_offsets_store(handle.pointer, list.pointer)
        // Partitions revoked in the meantime answer _STATE; their new owner re-reads them.
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__STATE else {
            throw KafkaError(code: .offsets, error: error)
        }
    }

    /// Commits the stored offsets now and waits for the broker.
    public func commit() async throws {
        try await worker.run { [handle] in
            let error = rd_kafka_commit(handle.pointer, nil, 0)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET else {
                throw KafkaError(code: .offsets, error: error)
            }
        }
    }

    /// Stops fetching the partitions (other partitions keep flowing).
    public func pause(_ partitions: [KafkaTopicPartition]) throws {
        let list = PartitionList(partitions.map { ($0.topic, $0.partition, Int64(RD_KAFKA_OFFSET_INVALID)) })
        let error = rd_kafka_pause_partitions(handle.pointer, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .consume, error: error) }
    }

    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        let list = PartitionList(partitions.map { ($0.topic, $0.partition, Int64(RD_KAFKA_OFFSET_INVALID)) })
        let error = rd_kafka_resume_partitions(handle.pointer, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .consume, error: error) }
    }

    /// Moves the fetch position back (or forward); messages already fetched past it are dropped.
    public func seek(_ offsets: [KafkaTopicPartition: Int64]) async throws {
        try await worker.run { [handle] in
            let list = PartitionList(offsets.map { ($0.key.topic, $0.key.partition, $0.value) })
            if let error = rd_kafka_seek_partitions(handle.pointer, list.pointer, 5000) {
                throw KafkaError(code: .consume, consuming: error)
            }
        }
    }

    /// The group's committed offsets for these partitions (-1001 where none is committed).
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(5)) async throws -> [KafkaTopicPartition: Int64] {
        try await worker.run { [handle] in
            let list = PartitionList(partitions.map { ($0.topic, $0.partition, Int64(RD_KAFKA_OFFSET_INVALID)) })
            let error = rd_kafka_committed(handle.pointer, list.pointer, Int32(timeout.milliseconds))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .offsets, error: error) }
            return list.offsets()
        }
    }

    public func watermarks(topic: String, partition: Int32, timeout: Duration = .seconds(5)) async throws -> (low: Int64, high: Int64) {
        try await worker.run { [handle] in try handle.watermarks(topic: topic, partition: partition, timeout: timeout) }
    }

    /// The end offsets of several partitions, asked in one pass on the consumer's thread.
    public func highWatermarks(of partitions: [KafkaTopicPartition], timeout: Duration = .seconds(5)) async throws -> [KafkaTopicPartition: Int64] {
        try await worker.run { [handle] in
            var ends: [KafkaTopicPartition: Int64] = [:]
            for partition in partitions {
                ends[partition] = try handle.watermarks(topic: partition.topic, partition: partition.partition, timeout: timeout).high
            }
            return ends
        }
    }

    public func partitionCount(topic: String, timeout: Duration = .seconds(5)) async throws -> Int {
        try await worker.run { [handle] in try handle.partitionCount(topic: topic, timeout: timeout) }
    }

    public func ping(timeout: Duration = .seconds(2)) async throws {
        try await worker.run { [handle] in try handle.ping(timeout: timeout) }
    }

    /// Commits stored offsets and leaves the group.
    public func close() async throws {
        try await worker.run { [handle] in
            _ = rd_kafka_commit(handle.pointer, nil, 0)
            let error = rd_kafka_consumer_close(handle.pointer)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .consume, error: error) }
        }
    }
}

extension KafkaConsumerMessage {
    init(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) {
        let message = raw.pointee
        let topic = String(cString: rd_kafka_topic_name(message.rkt))
        let value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
        let key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(raw, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
        self.init(
            topicPartition: KafkaTopicPartition(topic: topic, partition: message.partition),
            offset: message.offset,
            key: key,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}

/// An owned `rd_kafka_topic_partition_list_t`.
struct PartitionList: ~Copyable {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ entries: [(String, Int32, Int64)]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))
        for (topic, partition, offset) in entries {
            rd_kafka_topic_partition_list_add(pointer, topic, partition).pointee.offset = offset
        }
    }

    init(borrowing pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = rd_kafka_topic_partition_list_copy(pointer)
    }

    func offsets() -> [KafkaTopicPartition: Int64] {
        var result: [KafkaTopicPartition: Int64] = [:]
        for index in 0..<Int(pointer.pointee.cnt) {
            let element = pointer.pointee.elems[index]
            result[KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)] = element.offset
        }
        return result
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }
}

/// Applies assignments and revocations. Runs inside `rd_kafka_consumer_poll`, on the
/// consumer's own thread. Before partitions are taken away, the offsets stored so far are
/// committed, so the next owner starts right after the last processed message.
private let rebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
    ) -> Void = { handle, error, partitions, opaque in
        guard let handle else { return }
        let logger = KafkaHandleContext.from(opaque)?.logger
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        let names = partitions.map { PartitionList(borrowing: $0).offsets().keys.map(\.description).sorted().joined(separator: ",") } ?? ""
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger?.info("Kafka partitions assigned", metadata: ["kafka.partitions": .string(names)])
            if cooperative {
                if let failure = rd_kafka_incremental_assign(handle, partitions) { rd_kafka_error_destroy(failure) }
            } else {
                rd_kafka_assign(handle, partitions)
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            logger?.info("Kafka partitions revoked", metadata: ["kafka.partitions": .string(names)])
            _ = rd_kafka_commit(handle, nil, 0)
            if cooperative {
                if let failure = rd_kafka_incremental_unassign(handle, partitions) { rd_kafka_error_destroy(failure) }
            } else {
                rd_kafka_assign(handle, nil)
            }
        default:
            logger?.warning("Kafka rebalance error", metadata: ["kafka.error": .string(String(cString: rd_kafka_err2str(error)))])
            rd_kafka_assign(handle, nil)
        }
    }

extension KafkaConsumer {
    /// For every partition of `topics` that holds messages now: its offsets from the low to
    /// the high watermark (exclusive). Replays and full reads stop at these ends.
    public func currentRanges(of topics: [String]) async throws -> [KafkaTopicPartition: Range<Int64>] {
        var ranges: [KafkaTopicPartition: Range<Int64>] = [:]
        for topic in topics {
            for partition in 0..<Int32(try await partitionCount(topic: topic)) {
                let marks = try await watermarks(topic: topic, partition: partition)
                if marks.high > marks.low {
                    ranges[KafkaTopicPartition(topic: topic, partition: partition)] = marks.low..<marks.high
                }
            }
        }
        return ranges
    }
}
