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
        guard let dot = text.utf8.firstIndex(of: UInt8(ascii: ".")),
            let major = Int(text[..<dot]), let minor = Int(text[text.index(after: dot)...]), major >= 0, minor >= 0
        else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "schema_version must be 'major.minor', got '\(text)'")
            )
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
    private enum CodingKeys: String, CodingKey {
        case eventId, type, schemaVersion, occurredAt, tenant, aggregateKey, aggregateVersion
    }
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

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Every event is read, so the id is parsed by hand (Foundation's UUID parser is slow here).
        let id = try container.decode(String.self, forKey: .eventId)
        guard let eventId = UUID.parseFast(id) else {
            throw DecodingError.dataCorruptedError(forKey: .eventId, in: container, debugDescription: "not a UUID: \(id)")
        }
        self.eventId = eventId
        type = try container.decode(String.self, forKey: .type)
        schemaVersion = try container.decode(SchemaVersion.self, forKey: .schemaVersion)
        occurredAt = try container.decode(Date.self, forKey: .occurredAt)
        tenant = try container.decode(String.self, forKey: .tenant)
        aggregateKey = try container.decode(String.self, forKey: .aggregateKey)
        aggregateVersion = try container.decode(Int64.self, forKey: .aggregateVersion)
    }

    public init(
        eventId: UUID = UUID(),
        type: String,
        schemaVersion: SchemaVersion,
        occurredAt: Date = Date(),
        tenant: String,
        aggregateKey: String,
        aggregateVersion: Int64
    ) {
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

    public init(
        eventId: UUID = UUID(),
        occurredAt: Date = Date(),
        tenant: String,
        aggregateKey: String,
        aggregateVersion: Int64,
        payload: Payload
    ) {
        self.header = EventHeader(
            eventId: eventId,
            type: Payload.eventType.name,
            schemaVersion: Payload.schemaVersion,
            occurredAt: occurredAt,
            tenant: tenant,
            aggregateKey: aggregateKey,
            aggregateVersion: aggregateVersion
        )
        self.payload = payload
    }

    public var eventId: UUID { header.eventId }
}

extension EventEnvelope {
    /// An envelope from a header that was already read and its payload.
    public init(header: EventHeader, payload: Payload) {
        self.header = header
        self.payload = payload
    }
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

extension UUID {
    /// Parses the canonical 8-4-4-4-12 hex form (either case); nil for anything else.
    static func parseFast(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { chars -> UUID? in
            guard chars.count == 36 else { return nil }
            var bytes = [UInt8](repeating: 0, count: 16)
            var byte = 0
            var index = 0
            while index < 36 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard chars[index] == UInt8(ascii: "-") else { return nil }
                    index += 1
                    continue
                }
                guard let high = hexValue(chars[index]), let low = hexValue(chars[index + 1]) else { return nil }
                bytes[byte] = high << 4 | low
                byte += 1
                index += 2
            }
            return UUID(
                uuid: (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                    bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                )
            )
        }
    }

    private static func hexValue(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
