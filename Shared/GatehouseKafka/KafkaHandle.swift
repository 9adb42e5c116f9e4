import CRdkafka
import Logging

/// Per-handle context reachable from librdkafka's C callbacks through the handle's opaque
/// pointer (never through global state).
final class KafkaHandleContext: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> KafkaHandleContext? {
        guard let opaque else { return nil }
        return Unmanaged<KafkaHandleContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// Owns one `rd_kafka_t` and destroys it exactly once.
///
/// `@unchecked Sendable`: librdkafka documents its handle API as thread-safe, the pointer is
/// immutable after `init`, and destruction happens in `deinit`, after every user is gone.
final class KafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let logger: Logger
    private let context: Unmanaged<KafkaHandleContext>

    /// Creates the handle. `configure` may install further callbacks on the configuration.
    init(
        type: rd_kafka_type_t,
        properties: [String: String],
        logger: Logger,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .creation, reason: "rd_kafka_conf_new failed")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(code: .configuration, reason: "\(key): \(String(nullTerminated: errorText))")
            }
        }
        let context = Unmanaged.passRetained(KafkaHandleContext(logger: logger))
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_log_cb(conf, kafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, kafkaErrorCallback)
        configure(conf)
        // On success rd_kafka_new takes ownership of conf.
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            context.release()
            throw KafkaError(code: .creation, reason: String(nullTerminated: errorText))
        }
        self.pointer = handle
        self.logger = logger
        self.context = context
    }

    deinit {
        rd_kafka_destroy(pointer)
        context.release()
    }

    /// Number of partitions of `topic`, from broker metadata. Blocking.
    func partitionCount(topic: String, timeout: Duration) throws -> Int {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(pointer, 1, nil, &metadata, Int32(timeout.milliseconds))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(code: .metadata, error: error)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            if String(cString: entry.topic) == topic {
                guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .metadata, error: entry.err) }
                return Int(entry.partition_cnt)
            }
        }
        throw KafkaError(code: .metadata, reason: "unknown topic \(topic)")
    }

    /// Checks that a broker answers a metadata request. Blocking.
    func ping(timeout: Duration) throws {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(pointer, 0, nil, &metadata, Int32(timeout.milliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .metadata, error: error) }
    }

    /// Low and high watermark of one partition, asked of the broker. Blocking.
    func watermarks(topic: String, partition: Int32, timeout: Duration) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(pointer, topic, partition, &low, &high, Int32(timeout.milliseconds))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .metadata, error: error) }
        return (low, high)
    }
}

private let kafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle,
    level,
    facility,
    text in
    guard let handle, let context = KafkaHandleContext.from(rd_kafka_opaque(handle)) else { return }
    let message = text.map { String(cString: $0) } ?? ""
    let facilityName = facility.map { String(cString: $0) } ?? ""
    // syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug
    let mapped: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
    context.logger.log(level: mapped, "librdkafka: \(message)", metadata: ["kafka.facility": .string(facilityName)])
}

private let kafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    _,
    code,
    reason,
    opaque in
    guard let context = KafkaHandleContext.from(opaque) else { return }
    let text = reason.map { String(cString: $0) } ?? ""
    context.logger.warning("Kafka client error", metadata: ["kafka.error": .string(text), "kafka.code": .stringConvertible(code)])
}

extension String {
    /// Reads a C error buffer up to its terminating NUL.
    init(nullTerminated buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
