import Foundation
import GatehouseCrypto

/// The header and claims of a compact JWS (RFC 7515 §7.1), read before its signature is
/// checked: three dot-separated segments, the first two Base64url JSON objects.
enum CompactJWT {
    /// Nil when `token` is not such a JWS, or its header or claims are not of these types.
    static func parts<Header: Decodable, Claims: Decodable>(_ token: String, as _: Header.Type, _: Claims.Type) -> (Header, Claims)? {
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3, let header = Base64URL.decode(String(segments[0])), let payload = Base64URL.decode(String(segments[1])),
            let decodedHeader = try? JSONDecoder().decode(Header.self, from: Data(header)),
            let decodedClaims = try? JSONDecoder().decode(Claims.self, from: Data(payload))
        else { return nil }
        return (decodedHeader, decodedClaims)
    }
}
