import Foundation
import HTTPTypes
import Hummingbird

extension Request {
    /// The credential of an `Authorization: Bearer` header (RFC 6750 §2.1: the scheme in any
    /// case, one token68 credential), or nil. Never read from the query (RFC 9700 §4.3.2).
    public var bearerToken: String? {
        Self.bearerToken(in: headers[.authorization])
    }

    /// The bearer credential of an `Authorization` header value.
    public static func bearerToken(in header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, !token.contains(" ") else { return nil }
        return token
    }
}

extension HTTPField.Name {
    /// RFC 9449 §4.1: the proof of possession sent with a request.
    public static let dpop = HTTPField.Name("DPoP")!
    /// RFC 9449 §8.1: the nonce a server asks DPoP proofs to carry.
    public static let dpopNonce = HTTPField.Name("DPoP-Nonce")!
}
