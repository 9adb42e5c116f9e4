import Crypto
import Foundation
import GatehouseCrypto
import GatehouseOAuth

/// A client's DPoP key in tests, and proofs signed with it: each field of a proof can be set
/// to what a test needs (the signature is ES256 by this key unless `signedBy` says otherwise).
public struct DPoPKey: Sendable {
    public let key: P256.Signing.PrivateKey

    public init(key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()) { self.key = key }

    public var jwk: [String: String] {
        let raw = Array(key.publicKey.rawRepresentation)
        return ["kty": "EC", "crv": "P-256", "x": Base64URL.encode(Array(raw[0..<32])), "y": Base64URL.encode(Array(raw[32..<64]))]
    }

    public var thumbprint: String { DPoPProof.thumbprint(of: jwk)! }

    /// A proof of this key with the usual header: claims written directly (a benchmark
    /// makes tens of thousands), for `method` and `url` and `token` (as `ath`).
    public func quickProof(_ method: String, _ url: String, token: String) -> String {
        let ath = Base64URL.encode(Array(SHA256.hash(data: Array(token.utf8))))
        let claims =
            #"{"ath":"\#(ath)","htm":"\#(method)","htu":"\#(url)","iat":\#(Int(Date().timeIntervalSince1970)),"jti":"\#(UUID().uuidString)"}"#
        let input = header + "." + Base64URL.encode(Array(claims.utf8))
        let signature = try! key.signature(for: Array(input.utf8)).rawRepresentation
        return input + "." + Base64URL.encode(Array(signature))
    }

    /// The encoded header of this key's proofs.
    private var header: String { Self.segment(["typ": "dpop+jwt", "alg": "ES256", "jwk": jwk]) }

    /// A proof for `method` and `url` (and `token`, as `ath`).
    public func proof(
        _ method: String,
        _ url: String,
        token: String? = nil,
        issuedAt: Date = Date(),
        jti: String? = UUID().uuidString,
        header: [String: Any]? = nil,
        claims: [String: Any] = [:],
        signedBy: P256.Signing.PrivateKey? = nil
    ) -> String {
        let head = header ?? ["typ": "dpop+jwt", "alg": "ES256", "jwk": jwk]
        var body: [String: Any] = ["htm": method, "htu": url, "iat": Int(issuedAt.timeIntervalSince1970)]
        if let jti { body["jti"] = jti }
        if let token { body["ath"] = Base64URL.encode(Array(SHA256.hash(data: Array(token.utf8)))) }
        for (name, value) in claims { body[name] = value }
        let input = Self.segment(head) + "." + Self.segment(body)
        let signature = try! (signedBy ?? key).signature(for: Array(input.utf8)).rawRepresentation
        return input + "." + Base64URL.encode(Array(signature))
    }

    static func segment(_ object: [String: Any]) -> String {
        Base64URL.encode(Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])))
    }
}
