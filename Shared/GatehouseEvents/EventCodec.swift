import Foundation

/// The one JSON encoding of events on the wire: snake_case keys, ISO 8601 dates with
/// milliseconds; a tolerant reader that ignores fields it does not know.
public enum EventCodec {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .custom { path in SnakeCaseKey(path.last!.stringValue, toSnakeCase: true) }
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(EventTimestamp.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in SnakeCaseKey(path.last!.stringValue, toSnakeCase: false) }
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = EventTimestamp.parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp: \(text)")
        }
        return decoder
    }

    /// Reads the envelope fields and, for a catalog type of a known major version, the payload,
    /// in one pass over the JSON. The payload is nil when the type is not in the catalog or its
    /// payload does not decode (decoding it on its own then reports why).
    public static func headerAndPayload(of bytes: [UInt8]) throws -> (header: EventHeader, payload: (any EventPayload)?) {
        do {
            let read = try decoder().decode(HeaderAndPayload.self, from: Data(bytes))
            return (read.header, read.payload)
        } catch let error as EventDecodingError {
            throw error
        } catch {
            throw EventDecodingError.malformed(String(describing: error))
        }
    }

    private struct HeaderAndPayload: Decodable {
        var header: EventHeader
        var payload: (any EventPayload)?

        private enum CodingKeys: String, CodingKey { case payload }

        init(from decoder: any Decoder) throws {
            header = try EventHeader(from: decoder)
            guard let type = EventCatalog.payloadType(named: header.type), header.schemaVersion.major == type.schemaVersion.major else { return }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func decode<P: EventPayload>(_ type: P.Type) -> (any EventPayload)? { try? container.decode(type, forKey: .payload) }
            payload = decode(type)
        }
    }

    /// Decodes the payload of an event whose header was read already (with `header(of:)`),
    /// without reading the header again.
    public static func decode<P: EventPayload>(_ type: P.Type, from bytes: [UInt8], header: EventHeader) throws -> EventEnvelope<P> {
        guard header.type == P.eventType.name else { throw EventDecodingError.wrongType(expected: P.eventType.name, found: header.type) }
        guard header.schemaVersion.major == P.schemaVersion.major else {
            throw EventDecodingError.unsupportedVersion(type: header.type, version: header.schemaVersion)
        }
        do {
            return EventEnvelope(header: header, payload: try decoder().decode(PayloadOnly<P>.self, from: Data(bytes)).payload)
        } catch {
            throw EventDecodingError.malformed(String(describing: error))
        }
    }

    private struct PayloadOnly<P: EventPayload>: Decodable {
        var payload: P
    }

    public static func encode<P: EventPayload>(_ envelope: EventEnvelope<P>) throws -> [UInt8] {
        Array(try encoder().encode(envelope))
    }

    /// Reads only the envelope fields, to route an event before decoding its payload.
    public static func header(of bytes: [UInt8]) throws -> EventHeader {
        do {
            return try decoder().decode(EventHeader.self, from: Data(bytes))
        } catch let error as EventDecodingError {
            throw error
        } catch {
            throw EventDecodingError.malformed(String(describing: error))
        }
    }

    public static func decode<P: EventPayload>(_ type: P.Type, from bytes: [UInt8]) throws -> EventEnvelope<P> {
        do {
            return try decoder().decode(EventEnvelope<P>.self, from: Data(bytes))
        } catch let error as EventDecodingError {
            throw error
        } catch {
            throw EventDecodingError.malformed(String(describing: error))
        }
    }
}

/// snake_case on the wire, camelCase in Swift: the conversion of Foundation's
/// `convertToSnakeCase`/`convertFromSnakeCase` for keys like ours (lower-case words, no
/// acronyms, no leading or trailing underscores), written for bytes. Foundation's own version
/// took half the time of decoding an event.
struct SnakeCaseKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ key: String, toSnakeCase: Bool) {
        let original = key
        var key = key
        stringValue = key.withUTF8 { bytes in
            let separator = UInt8(ascii: "_")
            if toSnakeCase {
                guard bytes.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return original }
                var output: [UInt8] = []
                output.reserveCapacity(bytes.count + 4)
                for byte in bytes {
                    if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                        output.append(separator)
                        output.append(byte + 32)
                    } else {
                        output.append(byte)
                    }
                }
                return String(decoding: output, as: UTF8.self)
            } else {
                guard let first = bytes.firstIndex(of: separator), first > 0, bytes.last != separator else { return original }
                var output: [UInt8] = Array(bytes[..<first])
                var upper = false
                for byte in bytes[first...] {
                    if byte == separator {
                        upper = true
                    } else {
                        output.append(upper && byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte)
                        upper = false
                    }
                }
                return String(decoding: output, as: UTF8.self)
            }
        }
    }

    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
