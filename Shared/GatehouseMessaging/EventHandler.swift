import GatehouseEvents
import GatehouseKafka
import GatehousePostgres
import Logging
import PostgresNIO

/// An event as a consumer receives it: the envelope fields, read eagerly, and the raw bytes
/// for the handler to decode into the payload type it expects.
public struct IncomingEvent: Sendable {
    public var header: EventHeader
    public var message: KafkaConsumerMessage
    /// The payload, when it was decoded ahead of the transaction (catalog types only).
    public var payload: (any EventPayload)?

    public init(header: EventHeader, message: KafkaConsumerMessage, payload: (any EventPayload)? = nil) {
        self.header = header
        self.message = message
        self.payload = payload
    }

    public var bytes: [UInt8] { message.value }
    public var topicPartition: KafkaTopicPartition { message.topicPartition }
    public var offset: Int64 { message.offset }

    public func decode<P: EventPayload>(_ type: P.Type) throws -> EventEnvelope<P> {
        if let payload = payload as? P, header.type == P.eventType.name { return EventEnvelope(header: header, payload: payload) }
        return try EventCodec.decode(type, from: bytes, header: header)
    }
}

/// A consumer's business logic: applies one event to the consumer's own schema, inside the
/// transaction that also records the event id in the inbox.
///
/// Effects must be guarded by the aggregate version where order matters, so that duplicates
/// (filtered by the inbox) and reordering (across partitions, or after a replay) cannot move
/// state backwards.
public protocol EventHandler: Sendable {
    /// The consumer's name: its Kafka group id and its key in the inbox.
    var consumerName: String { get }
    var topics: [String] { get }
    /// Whether this handler wants events of this type; others are acknowledged and skipped.
    func handles(_ header: EventHeader) -> Bool
    func apply(_ event: IncomingEvent, on connection: PostgresConnection, logger: Logger) async throws

    /// Applies several new events, in order, in the current transaction. The default applies
    /// them one by one; handlers on a hot path override it with set-based SQL that has the same
    /// effect as the sequence.
    func apply(_ events: [IncomingEvent], on connection: PostgresConnection, logger: Logger) async throws
}

extension EventHandler {
    public func apply(_ events: [IncomingEvent], on connection: PostgresConnection, logger: Logger) async throws {
        for event in events {
            try await apply(event, on: connection, logger: logger)
        }
    }
}

/// Thrown by a handler for an event it can never apply (the event is wrong, not the world).
public struct DeterministicEventError: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Whether an error is worth retrying later (infrastructure) or will recur (the event).
public enum FailureKind: Sendable, Equatable {
    case transient
    case deterministic

    /// Decoding errors, handler-declared errors and SQL errors about the data (constraint and
    /// data exceptions) are deterministic. Everything else (connections, shutdowns, timeouts,
    /// errors we do not know) is treated as transient: such an event is retried, never
    /// dead-lettered for an outage.
    public static func classify(_ error: any Error) -> FailureKind {
        switch PostgresFailure.underlying(error) {
        case is EventDecodingError, is DeterministicEventError, is DecodingError:
            return .deterministic
        case let error as KafkaError:
            return error.isFatal ? .deterministic : .transient
        case let error as PSQLError:
            return PostgresFailure.isTransient(error) || error.code != .server ? .transient : .deterministic
        default:
            return .transient
        }
    }
}
