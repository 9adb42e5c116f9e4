import Foundation
import GatehouseEvents
import GatehousePostgres
import Logging
import PostgresNIO

/// Appends events to a schema's outbox inside the caller's transaction, so that the state
/// change and the events announcing it commit together or not at all.
///
/// Write the outbox row after the state change has locked its aggregate row: then the outbox
/// ids of one aggregate increase in commit order, which is the order the relay publishes.
public struct OutboxWriter: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    public func append<P: EventPayload>(_ envelope: EventEnvelope<P>, on connection: PostgresConnection, logger: Logger) async throws {
        try await append([try OutboxRecord(envelope)], on: connection, logger: logger)
    }

    /// Appends several events with one statement.
    public func append(_ records: [OutboxRecord], on connection: PostgresConnection, logger: Logger) async throws {
        guard !records.isEmpty else { return }
        try await connection.query("\(insert(records))", logger: logger)
    }

    /// The INSERT of `records`, as a fragment of a larger statement that binds its own values:
    /// with `when`, only if that relation (a CTE of the same statement) has rows. One statement
    /// can so write state changes and their events atomically without a transaction's round
    /// trips.
    public func insert(_ records: [OutboxRecord], when source: String? = nil) -> OutboxInsert {
        OutboxInsert(schema: schema, records: records, conditions: source.map { ["EXISTS (SELECT 1 FROM \($0))"] } ?? [])
    }

    /// Binds records for `insertSQL`: five parameters (arrays), appended to `bindings`.
    public static func bind(_ records: [OutboxRecord], into bindings: inout PostgresBindings) {
        bindings.append(records.map(\.eventId))
        bindings.append(records.map(\.topic))
        bindings.append(records.map(\.eventType))
        bindings.append(records.map(\.aggregateKey))
        bindings.append(records.map { String(decoding: $0.envelope, as: UTF8.self) })
    }

    /// The same INSERT as `insert` for a prepared statement, whose SQL is fixed: the records
    /// are bound by `bind` at `$firstParameter` and the four after it; with `positionsIn`, only
    /// the records whose position (1-based, in the order bound) that query returns.
    public func insertSQL(firstParameter n: Int, when source: String? = nil, positionsIn positions: String? = nil) -> String {
        var conditions: [String] = []
        if let source { conditions.append("EXISTS (SELECT 1 FROM \(source))") }
        if let positions { conditions.append("n IN (\(positions))") }
        return Self.insertHead(schema)
            + "$\(n)::uuid[], $\(n + 1)::text[], $\(n + 2)::text[], $\(n + 3)::text[], $\(n + 4)::text[]"
            + Self.insertTail(conditions)
    }

    fileprivate static func insertHead(_ schema: SchemaName) -> String {
        """
        INSERT INTO \(schema.quoted).outbox (event_id, topic, event_type, aggregate_key, lane, envelope)
        SELECT e, t, ty, k, \(lane(of: "k")), b
        FROM unnest(
        """
    }

    fileprivate static func insertTail(_ conditions: [String]) -> String {
        """
        ) WITH ORDINALITY AS x(e, t, ty, k, b, n)
        \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
        ORDER BY n
        """
    }
}

/// Outbox rows to write as part of a statement: interpolate it into a `PostgresQuery`
/// (`\(outbox.insert(records, when: "changed"))`) and it binds its own values.
public struct OutboxInsert: Sendable {
    let schema: SchemaName
    let records: [OutboxRecord]
    let conditions: [String]
}

extension PostgresQuery.StringInterpolation {
    public mutating func appendInterpolation(_ insert: OutboxInsert) {
        appendLiteral(OutboxWriter.insertHead(insert.schema))
        appendInterpolation(insert.records.map(\.eventId))
        appendLiteral("::uuid[], ")
        appendInterpolation(insert.records.map(\.topic))
        appendLiteral("::text[], ")
        appendInterpolation(insert.records.map(\.eventType))
        appendLiteral("::text[], ")
        appendInterpolation(insert.records.map(\.aggregateKey))
        appendLiteral("::text[], ")
        appendInterpolation(insert.records.map { String(decoding: $0.envelope, as: UTF8.self) })
        appendLiteral("::text[]")
        appendLiteral(OutboxWriter.insertTail(insert.conditions))
    }
}

extension OutboxWriter {
    /// The SQL of an outbox row's lane for an aggregate key expression: every event of a key
    /// falls into the same lane.
    public static func lane(of keyExpression: String) -> String {
        "(hashtext(\(keyExpression)) & \(MessagingMigrations.laneCount - 1))::smallint"
    }
}

/// An encoded event ready for the outbox.
public struct OutboxRecord: Sendable {
    public var eventId: UUID
    public var topic: String
    public var eventType: String
    public var aggregateKey: String
    public var envelope: [UInt8]

    public init<P: EventPayload>(_ envelope: EventEnvelope<P>) throws {
        self.eventId = envelope.header.eventId
        self.topic = P.eventType.topic
        self.eventType = P.eventType.name
        self.aggregateKey = envelope.header.aggregateKey
        self.envelope = try EventCodec.encode(envelope)
    }

    /// A hot-path event, written without `JSONEncoder`.
    public init<P: HandEncodedPayload>(_ envelope: EventEnvelope<P>) {
        self.eventId = envelope.header.eventId
        self.topic = P.eventType.topic
        self.eventType = P.eventType.name
        self.aggregateKey = envelope.header.aggregateKey
        self.envelope = EventCodec.encode(envelope)
    }

    /// For events outside the catalog (test fixtures): the caller supplies the encoded envelope.
    public init(eventId: UUID, topic: String, eventType: String, aggregateKey: String, envelope: [UInt8]) {
        self.eventId = eventId
        self.topic = topic
        self.eventType = eventType
        self.aggregateKey = aggregateKey
        self.envelope = envelope
    }
}
