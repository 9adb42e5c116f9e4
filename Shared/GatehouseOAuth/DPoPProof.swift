import Crypto
import Foundation
import GatehouseCrypto
import JWTKit
import Synchronization

/// A DPoP proof (RFC 9449 §4): a JWT the client signs with the key its tokens are bound to,
/// sent in the `DPoP` header of each request. Verified here (§4.3) except its `jti`, which the
/// caller records so that a proof is never accepted twice (on any instance).
public enum DPoPProof {
    /// Asymmetric algorithms only (§4.2): `none` and MACs are never a proof of possession.
    public static let algorithms: Set<String> = ["RS256", "PS256", "ES256", "EdDSA"]
    /// How old (or, by clock difference, how new) a proof's `iat` may be.
    public static let window: TimeInterval = 60
    public static let maximumLength = 8192

    /// Why a proof was refused: `invalid_dpop_proof` with this description.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// What a verified proof establishes.
    public struct Verified: Sendable, Equatable {
        /// The RFC 7638 thumbprint of the proof's key: what a bound token's `cnf.jkt` names.
        public var thumbprint: String
        public var jti: String
        /// Until when the `jti` must be remembered.
        public var expiresAt: Date
        /// The server-provided nonce the proof carries, if any (`DPoPNonces` judges it).
        public var nonce: String? = nil
    }

    /// Verifies `proof` for a request of `method` to `url` (scheme, host and path; no query or
    /// fragment), and, when `accessToken` is given, for that token (`ath`).
    public static func verify(
        _ proof: String,
        method: String,
        url: String,
        accessToken: String? = nil,
        now: Date = Date()
    ) async throws(Failure) -> Verified {
        guard proof.utf8.count <= maximumLength else { throw Failure("the DPoP proof is too long") }
        guard let (header, claims) = CompactJWT.parts(proof, as: Header.self, Claims.self) else {
            throw Failure("the DPoP proof is not a signed JWT")
        }
        guard header.typ == "dpop+jwt" else { throw Failure("the DPoP proof's typ must be dpop+jwt") }
        guard let alg = header.alg, algorithms.contains(alg) else {
            throw Failure("the DPoP proof's algorithm is not one of \(algorithms.sorted().joined(separator: " "))")
        }
        guard let key = header.jwk else { throw Failure("the DPoP proof carries no jwk") }
        if let member = key.keys.first(where: ClientKeyRules.privateMembers.contains) {
            throw Failure("the DPoP proof's jwk has the private member \(member)")
        }
        guard let thumbprint = thumbprint(of: key) else { throw Failure("the DPoP proof's jwk is not an RSA, P-256 or Ed25519 public key") }
        if let keyAlgorithm = key["alg"], keyAlgorithm != alg { throw Failure("the DPoP proof's algorithm is not its key's") }
        do {
            _ = try await keys.collection(for: thumbprint, alg: alg, key: key).verify(proof, as: ClientAssertion.AnyClaims.self)
        } catch {
            throw Failure("the DPoP proof's signature does not verify with its jwk")
        }
        guard claims.htm == method else { throw Failure("the DPoP proof is for another method (htm)") }
        guard let htu = claims.htu, normalized(htu) == normalized(url) else { throw Failure("the DPoP proof is for another URL (htu)") }
        guard let iat = claims.iat else { throw Failure("the DPoP proof has no iat") }
        let age = now.timeIntervalSince1970 - iat
        guard age <= window, age >= -window else { throw Failure("the DPoP proof's iat is outside the accepted window") }
        guard let jti = claims.jti, !jti.isEmpty, jti.utf8.count <= 256 else { throw Failure("the DPoP proof needs a jti of at most 256 bytes") }
        if let accessToken {
            let expected = Base64URL.encode(Array(SHA256.hash(data: Array(accessToken.utf8))))
            guard let ath = claims.ath, constantTimeEqual(Array(ath.utf8), Array(expected.utf8)) else {
                throw Failure("the DPoP proof is not for this access token (ath)")
            }
        }
        return Verified(thumbprint: thumbprint, jti: jti, expiresAt: Date(timeIntervalSince1970: iat + window), nonce: claims.nonce)
    }

    /// jwt-kit's verifier of each key seen lately, by thumbprint and algorithm: a client signs
    /// every request with the same key, and reading a key costs more than checking a signature.
    static let keys = KeyCache()

    final class KeyCache: Sendable {
        static let capacity = 10_000
        private let collections = Mutex<[String: JWTKeyCollection]>([:])

        func collection(for thumbprint: String, alg: String, key: [String: String]) async throws -> JWTKeyCollection {
            let name = alg + " " + thumbprint
            if let known = collections.withLock({ $0[name] }) { return known }
            // jwt-kit finds keys by id: the thumbprint names this one.
            var named = key
            named["kid"] = thumbprint
            let collection = JWTKeyCollection()
            try await collection.add(jwk: try ClientKeyRules.jwk(named))
            collections.withLock { collections in
                if collections.count >= Self.capacity { collections.removeAll() }
                collections[name] = collection
            }
            return collection
        }
    }

    /// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members in lexicographic order,
    /// without whitespace; nil for a key that is not RSA, EC P-256 or OKP Ed25519.
    public static func thumbprint(of key: [String: String]) -> String? {
        let members: [String]
        switch (key["kty"], key["crv"]) {
        case ("RSA", _): members = ["e", "kty", "n"]
        case ("EC", "P-256"): members = ["crv", "kty", "x", "y"]
        case ("OKP", "Ed25519"): members = ["crv", "kty", "x"]
        default: return nil
        }
        var fields: [String] = []
        for member in members {
            guard let value = key[member], !value.isEmpty else { return nil }
            fields.append("\"\(member)\":\"\(value)\"")
        }
        let canonical = "{" + fields.joined(separator: ",") + "}"
        return Base64URL.encode(Array(SHA256.hash(data: Array(canonical.utf8))))
    }

    /// A URL as `htu` compares (§4.3): scheme and host without case, no query or fragment.
    static func normalized(_ url: String) -> String? {
        guard var components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return nil }
        components.scheme = scheme.lowercased()
        components.host = host.lowercased()
        components.query = nil
        components.fragment = nil
        if (scheme == "https" && components.port == 443) || (scheme == "http" && components.port == 80) { components.port = nil }
        if components.path.isEmpty { components.path = "/" }
        return components.string
    }

    struct Header: Decodable {
        var typ: String?
        var alg: String?
        /// A public key's members; only string-valued members are read (others fail the decode).
        var jwk: [String: String]?
    }

    struct Claims: Decodable {
        var jti: String?
        var htm: String?
        var htu: String?
        var iat: Double?
        var ath: String?
        var nonce: String?
    }
}
