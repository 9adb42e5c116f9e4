import Foundation

/// `application/x-www-form-urlencoded` bodies and queries: read and written (names and values
/// percent-encoded, only RFC 3986 unreserved ASCII characters left as they are).
public enum FormBody {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(encodeComponent($0.0))=\(encodeComponent($0.1))" }.joined(separator: "&")
    }

    /// One name or value, percent-encoded (also what RFC 6749 §2.3.1 asks of Basic credentials).
    public static func encodeComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// Lenient: the first value of each name wins, undecodable pairs are skipped (pages and
    /// redirects, where a stray parameter must not break the flow).
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), result[name] == nil else { continue }
            result[name] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
        return result
    }

    /// Every pair in order, repeats kept, `+` read as a space (a query string as browsers and
    /// OAuth clients write it, RFC 6749 §4.1.1); undecodable pairs are skipped.
    public static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { return nil }
            return (name, value)
        }
    }

    public enum StrictFailure: Error, Equatable, CustomStringConvertible {
        case repeated(String)
        case malformed

        public var description: String {
            switch self {
            case .repeated(let name): "the parameter '\(name)' appears more than once"
            case .malformed: "the body is not valid application/x-www-form-urlencoded"
            }
        }
    }

    /// Strict, for OAuth endpoints (RFC 6749 §3.1, §3.2): a name given twice or an undecodable
    /// pair is an error. Empty values count as absent.
    public static func parseStrict(_ text: String) throws(StrictFailure) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { throw .malformed }
            guard result[name] == nil else { throw .repeated(name) }
            if !value.isEmpty { result[name] = value }
        }
        return result
    }

    private static func decode(_ part: Substring) -> String? {
        // Most names and values (tokens, codes, ids) need no decoding at all.
        if !part.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) { return String(part) }
        return String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
