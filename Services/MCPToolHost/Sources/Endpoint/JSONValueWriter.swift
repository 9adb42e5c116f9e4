import Foundation
import GatehouseRuntime
import MCP

/// JSON text for the MCP hot path (`tools/call`), written directly: the SDK's Codable path
/// decodes and encodes every string through a data-URL regular expression, which costs more
/// than the rest of a call. Output is RFC 8259 JSON with object keys in sorted order.
enum JSONValueWriter {
    static func write(_ value: Value, to text: inout String) {
        switch value {
        case .null: text += "null"
        case .bool(let flag): text += flag ? "true" : "false"
        case .int(let number): text += String(number)
        case .double(let number): text += number.isFinite ? String(number) : "null"
        case .string(let string): JSONObjectWriter.appendQuoted(string, to: &text)
        case .data(let mimeType, let data): JSONObjectWriter.appendQuoted(data.dataURLEncoded(mimeType: mimeType), to: &text)
        case .array(let items):
            text += "["
            for (index, item) in items.enumerated() {
                if index > 0 { text += "," }
                write(item, to: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                JSONObjectWriter.appendQuoted(key, to: &text)
                text += ":"
                write(members[key]!, to: &text)
            }
            text += "}"
        }
    }

    /// A JSON-RPC id as it came (a string or an integer).
    static func write(id: JSONRPCID, to text: inout String) {
        switch id {
        case .string(let string): JSONObjectWriter.appendQuoted(string, to: &text)
        case .number(let number): text += String(number)
        }
    }

    /// A value parsed by `JSONSerialization`, as the SDK's `Value` (strings kept as strings:
    /// tool arguments are data, not data URLs).
    static func value(of any: Any) -> Value {
        switch any {
        case let string as String: return .string(string)
        case let object as [String: Any]: return .object(object.mapValues(value(of:)))
        case let array as [Any]: return .array(array.map(value(of:)))
        case is NSNull: return .null
        case let number as NSNumber:
            switch number.kind {
            case .boolean: return .bool(number.boolValue)
            case .integer: return .int(number.intValue)
            case .real: return .double(number.doubleValue)
            }
        default: return .null
        }
    }
}

/// A JSON-RPC request id: a string or an integer (null and fractions are refused).
enum JSONRPCID: Sendable, Equatable {
    case string(String)
    case number(Int)

    /// An id as `JSONSerialization` read it: a string, or an integer that fits in 64 signed
    /// bits (it is echoed exactly). Anything else (fractions, booleans, integers past 2^63 - 1,
    /// which the SDK could not carry either) is nil, an invalid request.
    init?(_ any: Any?) {
        switch any {
        case let string as String: self = .string(string)
        case let number as NSNumber where number.kind == .integer:
            if number.objCType.pointee == CChar(UInt8(ascii: "Q")), number.uint64Value > UInt64(Int64.max) { return nil }
            self = .number(number.intValue)
        default: return nil
        }
    }
}

extension NSNumber {
    enum Kind { case boolean, integer, real }

    /// What JSON literal `JSONSerialization` made this number from (its Objective-C type code:
    /// `c` for true/false, `d`/`f` for fractions, integer codes otherwise).
    var kind: Kind {
        switch objCType.pointee {
        case CChar(UInt8(ascii: "c")), CChar(UInt8(ascii: "B")): .boolean
        case CChar(UInt8(ascii: "d")), CChar(UInt8(ascii: "f")): .real
        default: .integer
        }
    }
}
