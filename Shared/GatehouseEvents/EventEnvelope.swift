import Foundation

/// `major.minor` version of an event's payload schema. Consumers accept any minor version of a
/// major they know (new optional fields are added in minors) and refuse unknown majors.
public struct SchemaVersion: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public var major: Int
    public var minor: Int

    public init(_ major: Int, _ minor: Int = 0) {
        self.major = major
        self.minor = minor
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "schema_version must be 'major.minor', got '\(text)'"))
        }
        self.init(major, minor)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: SchemaVersion, rhs: SchemaVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}

/// The envelope fields every event carries, read without knowing the payload's type.
public struct EventHeader: Codable, Sendable, Hashable {
    public var eventId: UUID
    public var type: String
    public var schemaVersion: SchemaVersion
    public var occurredAt: Date
    /// The id of the tenant the event belongs to, or "" for platform-wide events.
    public var tenant: String
    /// The Kafka message key: all events of one aggregate stay on one partition, in order.
    public var aggregateKey: String
    /// Increases with every event of the aggregate (gaps allowed); consumers use it to ignore stale events.
    public var aggregateVersion: Int64

    public init(eventId: UUID = UUID(), type: String, schemaVersion: SchemaVersion, occurredAt: Date = Date(),
                tenant: String, aggregateKey: String, aggregateVersion: Int64) {
        self.eventId = eventId
        self.type = type
        self.schemaVersion = schemaVersion
        self.occurredAt = occurredAt
        self.tenant = tenant
        self.aggregateKey = aggregateKey
        self.aggregateVersion = aggregateVersion
    }
}

/// A versioned event: the header fields and a typed payload, flat in one JSON object:
/// `{"event_id", "type", "schema_version", "occurred_at", "tenant", "aggregate_key",
/// "aggregate_version", "payload": {...}}`.
public struct EventEnvelope<Payload: EventPayload>: Sendable {
    public var header: EventHeader
    public var payload: Payload

    public init(eventId: UUID = UUID(), occurredAt: Date = Date(), tenant: String, aggregateKey: String,
                aggregateVersion: Int64, payload: Payload) {
        self.header = EventHeader(eventId: eventId, type: Payload.eventType.name, schemaVersion: Payload.schemaVersion,
                                  occurredAt: occurredAt, tenant: tenant, aggregateKey: aggregateKey,
                                  aggregateVersion: aggregateVersion)
        self.payload = payload
    }

    public var eventId: UUID { header.eventId }
}

extension EventEnvelope: Codable {
    private enum CodingKeys: String, CodingKey { case payload }

    public init(from decoder: any Decoder) throws {
        header = try EventHeader(from: decoder)
        guard header.type == Payload.eventType.name else {
            throw EventDecodingError.wrongType(expected: Payload.eventType.name, found: header.type)
        }
        guard header.schemaVersion.major == Payload.schemaVersion.major else {
            throw EventDecodingError.unsupportedVersion(type: header.type, version: header.schemaVersion)
        }
        payload = try decoder.container(keyedBy: CodingKeys.self).decode(Payload.self, forKey: .payload)
    }

    public func encode(to encoder: any Encoder) throws {
        try header.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(payload, forKey: .payload)
    }
}

/// Why an event could not be read. All of these are deterministic: retrying will not help.
public enum EventDecodingError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case wrongType(expected: String, found: String)
    case unsupportedVersion(type: String, version: SchemaVersion)
    case unknownType(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed event: \(reason)"
        case .wrongType(let expected, let found): "expected event type \(expected), found \(found)"
        case .unsupportedVersion(let type, let version): "unsupported schema version \(version) of \(type)"
        case .unknownType(let type): "unknown event type \(type)"
        }
    }
}
