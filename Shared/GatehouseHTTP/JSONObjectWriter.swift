import Hummingbird

/// Writes a flat JSON object field by field: for the few responses on a hot path (token,
/// introspection), where Foundation's `JSONEncoder` (key conversion, reflection) costs more
/// than the rest of the request. Strings are escaped per RFC 8259; nil values are left out.
public struct JSONObjectWriter: Sendable {
    private var text = "{"

    public init() {}

    public mutating func add(_ key: String, _ value: String?) {
        guard let value else { return }
        field(key)
        Self.appendQuoted(value, to: &text)
    }

    public mutating func add(_ key: String, _ value: Int) {
        field(key)
        text += String(value)
    }

    public mutating func add(_ key: String, _ value: Bool) {
        field(key)
        text += value ? "true" : "false"
    }

    /// A nested object (written by another writer).
    public mutating func add(_ key: String, _ object: JSONObjectWriter) {
        field(key)
        text += object.json
    }

    /// The object, as an `application/json` response with `Cache-Control: no-store`.
    public func response(status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text + "}"))
        )
    }

    public var json: String { text + "}" }

    private mutating func field(_ key: String) {
        if text.utf8.count > 1 { text += "," }
        Self.appendQuoted(key, to: &text)
        text += ":"
    }

    public static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
