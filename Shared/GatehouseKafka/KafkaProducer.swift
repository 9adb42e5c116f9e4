import CRdkafka
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// An idempotent Kafka producer. Every `send` awaits the broker's delivery report and returns
/// the persistence status; nothing is fire-and-forget.
///
/// Delivery reports are served by a dedicated polling thread; the continuation of each send
/// travels to the C callback as the message's own opaque pointer.
public final class KafkaProducer: Service, Sendable {
    private let handle: KafkaHandle
    private let configuration: KafkaProducerConfiguration
    private let worker: BlockingWorker
    private let polling = PollSwitch()
    private let pollThreadDone = DispatchSemaphore(value: 0)
    private let logger: Logger

    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.handle = try KafkaHandle(type: RD_KAFKA_PRODUCER, properties: configuration.properties, logger: logger) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        self.worker = BlockingWorker(name: "gatehouse-kafka-producer-admin")
        let thread = Thread { [handle, polling, pollThreadDone] in
            while polling.isOn {
                rd_kafka_poll(handle.pointer, 50)
            }
            pollThreadDone.signal()
        }
        thread.name = "gatehouse-kafka-producer-poll"
        thread.start()
    }

    deinit {
        polling.turnOff()
        pollThreadDone.wait()
        worker.stop()
    }

    /// Produces one record and waits for the broker's acknowledgement.
    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDeliveryReport {
        try await send([message])[0].get()
    }

    /// Produces records in the given order (so records of one key keep their order) and waits
    /// for every delivery report. Results are in the order of `messages`.
    public func send(_ messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let collector = DeliveryCollector(count: messages.count, continuation: continuation)
            for (index, message) in messages.enumerated() {
                let box = Unmanaged.passRetained(DeliveryBox { collector.complete(index, $0) })
                do {
                    try enqueue(message, opaque: box.toOpaque())
                } catch {
                    box.release()
                    collector.complete(index, .failure(error as? KafkaError ?? KafkaError(code: .produce, reason: "\(error)")))
                }
            }
        }
    }

    /// Hands the record to librdkafka; retries briefly while its local queue is full.
    /// librdkafka copies topic, key, value and headers during the call (`RD_KAFKA_MSG_F_COPY`),
    /// so the temporary C buffers are freed right after it.
    private func enqueue(_ message: KafkaOutgoingMessage, opaque: UnsafeMutableRawPointer) throws {
        var owned: [UnsafeMutableRawPointer] = []
        defer { for pointer in owned { pointer.deallocate() } }
        func copy(_ bytes: some Collection<UInt8>, terminated: Bool = false) -> UnsafeMutableRawPointer {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + (terminated ? 1 : 0), alignment: 1)
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
            if terminated { buffer[bytes.count] = 0 }
            owned.append(buffer.baseAddress!)
            return buffer.baseAddress!
        }
        func cString(_ string: String) -> UnsafePointer<CChar> {
            UnsafePointer(copy(Array(string.utf8), terminated: true).assumingMemoryBound(to: CChar.self))
        }

        var fields: [rd_kafka_vu_t] = []
        var field = rd_kafka_vu_t()
        field.vtype = RD_KAFKA_VTYPE_TOPIC
        field.u.cstr = cString(message.topic)
        fields.append(field)

        field = rd_kafka_vu_t()
        field.vtype = RD_KAFKA_VTYPE_VALUE
        field.u.mem.ptr = copy(message.value)
        field.u.mem.size = message.value.count
        fields.append(field)

        if let key = message.key {
            field = rd_kafka_vu_t()
            field.vtype = RD_KAFKA_VTYPE_KEY
            field.u.mem.ptr = copy(key)
            field.u.mem.size = key.count
            fields.append(field)
        }

        field = rd_kafka_vu_t()
        field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
        field.u.i = RD_KAFKA_MSG_F_COPY
        fields.append(field)

        field = rd_kafka_vu_t()
        field.vtype = RD_KAFKA_VTYPE_OPAQUE
        field.u.ptr = opaque
        fields.append(field)

        for header in message.headers {
            field = rd_kafka_vu_t()
            field.vtype = RD_KAFKA_VTYPE_HEADER
            field.u.header.name = cString(header.name)
            field.u.header.val = UnsafeRawPointer(copy(header.value))
            field.u.header.size = header.value.count
            fields.append(field)
        }

        for attempt in 0... {
            guard let error = rd_kafka_produceva(handle.pointer, fields, fields.count) else { return }
            let kafkaError = KafkaError(code: .produce, consuming: error)
            // The local queue is full: give the polling thread a moment to drain it.
            if kafkaError.librdkafkaCode == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue, attempt < 5000 {
                usleep(1000)
                continue
            }
            throw kafkaError
        }
    }

    /// Checks that a broker answers (for readiness probes).
    public func ping(timeout: Duration = .seconds(2)) async throws {
        try await worker.run { [handle] in try handle.ping(timeout: timeout) }
    }

    public func partitionCount(topic: String, timeout: Duration = .seconds(5)) async throws -> Int {
        try await worker.run { [handle] in try handle.partitionCount(topic: topic, timeout: timeout) }
    }

    /// Waits until every outstanding delivery report has arrived, up to `timeout`.
    public func flush(timeout: Duration) async throws {
        try await worker.run { [handle] in
            let error = rd_kafka_flush(handle.pointer, Int32(timeout.milliseconds))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .delivery, error: error) }
        }
    }

    /// Polls until graceful shutdown, then flushes outstanding messages.
    public func run() async throws {
        try await gracefulShutdown()
        do {
            try await flush(timeout: configuration.flushTimeout)
            logger.info("Kafka producer flushed")
        } catch {
            logger.error("Kafka producer flush did not complete", metadata: ["error": "\(error)"])
        }
    }
}

/// Carries one record's completion through librdkafka to the delivery report callback.
private final class DeliveryBox {
    let complete: (Result<KafkaDeliveryReport, KafkaError>) -> Void
    init(_ complete: @escaping (Result<KafkaDeliveryReport, KafkaError>) -> Void) { self.complete = complete }
}

/// Gathers the reports of one `send` call and resumes it when the last one arrives.
private final class DeliveryCollector: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
    }

    private let state: Mutex<State>
    private let continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>) {
        self.state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
        self.continuation = continuation
    }

    func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished: [Result<KafkaDeliveryReport, KafkaError>]? = state.withLock { state in
            state.results[index] = result
            state.remaining -= 1
            return state.remaining == 0 ? state.results.map { $0! } : nil
        }
        if let finished { continuation.resume(returning: finished) }
    }
}

private let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _,
    message,
    _ in
    guard let message, let opaque = message.pointee._private else { return }
    let box = Unmanaged<DeliveryBox>.fromOpaque(opaque).takeRetainedValue()
    let status: KafkaPersistenceStatus
    switch rd_kafka_message_status(message) {
    case RD_KAFKA_MSG_STATUS_PERSISTED: status = .persisted
    case RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED: status = .possiblyPersisted
    default: status = .notPersisted
    }
    let error = message.pointee.err
    if error != RD_KAFKA_RESP_ERR_NO_ERROR {
        let base = KafkaError(code: .delivery, error: error)
        box.complete(
            .failure(
                KafkaError(
                    code: .delivery,
                    reason: "\(base.reason) (status: \(status))",
                    librdkafkaCode: base.librdkafkaCode,
                    isRetriable: true,
                    isFatal: base.isFatal
                )
            )
        )
        return
    }
    let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    box.complete(
        .success(
            KafkaDeliveryReport(
                topic: topic,
                partition: message.pointee.partition,
                offset: message.pointee.offset,
                status: status
            )
        )
    )
}

/// Keeps the polling thread going until the producer is released.
private final class PollSwitch: Sendable {
    private let on = Atomic<Bool>(true)
    var isOn: Bool { on.load(ordering: .relaxed) }
    func turnOff() { on.store(false, ordering: .relaxed) }
}
