import Foundation

/// A payload on a hot path that writes its own wire JSON (snake_case keys in sorted order, nil
/// fields left out), so that `EventCodec.encode` need not go through `JSONEncoder`, whose
/// per-key strategy and reflection cost more than the rest of a tool call. The result decodes
/// exactly like the encoder's (the catalog tests compare both).
public protocol HandEncodedPayload: EventPayload {
    /// Writes the payload's members, keys in sorted order.
    func writeMembers(to object: inout EventJSONObject)
}

/// A JSON object written member by member, with the encoder's escaping (RFC 8259: quotes,
/// backslashes and control characters; `/` and non-ASCII as they are).
public struct EventJSONObject {
    fileprivate(set) var bytes: [UInt8] = [UInt8(ascii: "{")]

    public init() {}

    public mutating func add(_ key: String, _ value: String?) {
        guard let value else { return }
        member(key)
        Self.appendString(value, to: &bytes)
    }

    public mutating func add(_ key: String, _ value: Int64) {
        member(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Finite numbers only (the events' durations and counts); others are written as 0.
    public mutating func add(_ key: String, _ value: Double) {
        member(key)
        guard value.isFinite else {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            bytes.append(contentsOf: "\(value)".utf8)
        }
    }

    public mutating func add(_ key: String, object: EventJSONObject) {
        member(key)
        bytes.append(contentsOf: object.bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    var closed: [UInt8] { bytes + [UInt8(ascii: "}")] }

    private mutating func member(_ key: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    hex[Int(byte >> 4)], hex[Int(byte & 0x0F)],
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension EventCodec {
    /// The envelope of a hand-encoded payload, written by hand: the same members, in the same
    /// (sorted) order as the encoder writes them.
    public static func encode<P: HandEncodedPayload>(_ envelope: EventEnvelope<P>) -> [UInt8] {
        let header = envelope.header
        var payload = EventJSONObject()
        envelope.payload.writeMembers(to: &payload)
        var object = EventJSONObject()
        object.add("aggregate_key", header.aggregateKey)
        object.add("aggregate_version", header.aggregateVersion)
        object.add("event_id", header.eventId.uuidString)
        object.add("occurred_at", EventTimestamp.format(header.occurredAt))
        object.add("payload", object: payload)
        object.add("schema_version", header.schemaVersion.description)
        object.add("tenant", header.tenant)
        object.add("type", header.type)
        return object.closed
    }
}

extension ToolInvoked: HandEncodedPayload {
    public func writeMembers(to object: inout EventJSONObject) {
        object.add("client_id", clientId)
        object.add("duration_ms", durationMs)
        object.add("invocation_id", invocationId)
        object.add("outcome", outcome.rawValue)
        object.add("tool", tool)
        object.add("user_id", userId)
    }
}
