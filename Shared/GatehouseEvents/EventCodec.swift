import Foundation

/// The one JSON encoding of events on the wire: snake_case keys, ISO 8601 dates with
/// milliseconds; a tolerant reader that ignores fields it does not know.
public enum EventCodec {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Self.timestampStyle))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Self.timestampStyle.parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp: \(text)")
        }
        return decoder
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

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
