import Crypto
import Foundation
import GatehouseCrypto
import GatehouseEvents
import JWTKit

/// `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521 §4.2): a JWT the
/// client signs with one of its registered keys, naming itself as `iss` and `sub`, for this
/// authorization server (`aud`), short-lived, with a `jti` that is never accepted twice (the
/// caller records it; see `TokenStore.recordAssertion`). Signatures are checked by jwt-kit;
/// the claims are checked here, each with its own refusal.
public enum ClientAssertion {
    /// The `client_assertion_type` of a JWT client assertion.
    public static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// Asymmetric algorithms only: a shared-secret MAC would make the client's key a secret we
    /// hold, and `none` is no signature.
    public static let algorithms: Set<String> = ["RS256", "PS256", "ES256", "EdDSA"]
    /// The longest lifetime an assertion may claim: its `jti` is remembered that long.
    public static let maximumLifetime: TimeInterval = 600
    /// Clock difference tolerated on `exp`, `nbf` and `iat`.
    public static let leeway: TimeInterval = 30
    /// An assertion longer than this is refused before it is parsed.
    public static let maximumLength = 8192

    /// Why an assertion was refused (the token endpoint answers `invalid_client` with it).
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// What a verified assertion establishes.
    public struct Verified: Sendable, Equatable {
        public var clientId: String
        public var jti: String
        public var expiresAt: Date
    }

    /// The client an assertion names (`sub`, which RFC 7523 §3 requires to equal `iss`), read
    /// before anything is verified so that its keys can be found. Nil when it names none.
    public static func claimedClient(_ assertion: String) -> String? {
        guard assertion.utf8.count <= maximumLength, let (_, claims) = try? parts(of: assertion) else { return nil }
        return claims.sub
    }

    /// Verifies `assertion` as `clientId`'s, signed by one of `keys`, for one of `audiences`.
    public static func verify(
        _ assertion: String,
        clientId: String,
        keys: ClientKeySet,
        audiences: Set<String>,
        now: Date = Date()
    ) async throws(Failure) -> Verified {
        guard assertion.utf8.count <= maximumLength else { throw Failure("the client assertion is too long") }
        let (header, claims) = try parts(of: assertion)
        guard let alg = header.alg, algorithms.contains(alg) else {
            throw Failure("the client assertion's algorithm is not one of \(algorithms.sorted().joined(separator: ", "))")
        }
        // The key the header names, or the only key when it names none; never another key.
        let candidates = keys.keys.filter { key in header.kid.map { key["kid"] == $0 } ?? (keys.keys.count == 1) }
        guard let key = candidates.first else {
            throw Failure(header.kid == nil ? "the client assertion names no key (kid)" : "the client assertion's key is not registered")
        }
        if let keyAlgorithm = key["alg"], keyAlgorithm != alg { throw Failure("the client assertion's algorithm is not its key's") }
        do {
            let collection = JWTKeyCollection()
            try await collection.add(jwk: try ClientKeyRules.jwk(key))
            _ = try await collection.verify(assertion, as: AnyClaims.self)
        } catch {
            throw Failure("the client assertion's signature does not verify with the client's keys")
        }
        guard claims.iss == clientId, claims.sub == clientId else { throw Failure("the client assertion's iss and sub must be the client id") }
        guard let audience = claims.aud, !audience.isEmpty else { throw Failure("the client assertion has no aud") }
        guard audience.contains(where: audiences.contains) else { throw Failure("the client assertion is not for this authorization server (aud)") }
        guard let exp = claims.exp else { throw Failure("the client assertion has no exp") }
        let clock = now.timeIntervalSince1970
        guard exp + leeway > clock else { throw Failure("the client assertion has expired") }
        guard exp - clock <= maximumLifetime + leeway else {
            throw Failure("the client assertion lives longer than \(Int(maximumLifetime)) seconds")
        }
        if let nbf = claims.nbf, nbf > clock + leeway { throw Failure("the client assertion is not valid yet (nbf)") }
        if let iat = claims.iat, iat > clock + leeway { throw Failure("the client assertion was issued in the future (iat)") }
        guard let jti = claims.jti, !jti.isEmpty, jti.utf8.count <= 256 else {
            throw Failure("the client assertion needs a jti of at most 256 bytes")
        }
        return Verified(clientId: clientId, jti: jti, expiresAt: Date(timeIntervalSince1970: exp))
    }

    struct Header: Decodable {
        var alg: String?
        var kid: String?
    }

    /// The claims read here, leniently typed (`aud` a string or an array).
    struct Claims: Decodable {
        var iss: String?
        var sub: String?
        var aud: [String]?
        var exp: Double?
        var nbf: Double?
        var iat: Double?
        var jti: String?

        enum CodingKeys: String, CodingKey { case iss, sub, aud, exp, nbf, iat, jti }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            iss = try container.decodeIfPresent(String.self, forKey: .iss)
            sub = try container.decodeIfPresent(String.self, forKey: .sub)
            if let single = try? container.decodeIfPresent(String.self, forKey: .aud) {
                aud = [single]
            } else {
                aud = try container.decodeIfPresent([String].self, forKey: .aud)
            }
            exp = try container.decodeIfPresent(Double.self, forKey: .exp)
            nbf = try container.decodeIfPresent(Double.self, forKey: .nbf)
            iat = try container.decodeIfPresent(Double.self, forKey: .iat)
            jti = try container.decodeIfPresent(String.self, forKey: .jti)
        }
    }

    /// jwt-kit checks the signature; the claims are judged by `verify` above.
    struct AnyClaims: JWTPayload {
        func verify(using algorithm: some JWTAlgorithm) async throws {}
        init(from decoder: any Decoder) throws {}
        func encode(to encoder: any Encoder) throws {}
    }

    static func parts(of assertion: String) throws(Failure) -> (Header, Claims) {
        guard let parts = CompactJWT.parts(assertion, as: Header.self, Claims.self) else { throw Failure("the client assertion is not a signed JWT") }
        return parts
    }
}

/// What a registered client key set must be: public signing keys only (RSA of at least 2048
/// bits, P-256, Ed25519), each with its own `kid`, loadable by jwt-kit.
public enum ClientKeyRules {
    public static let maximumKeys = 10
    /// Members that only a private or symmetric key has.
    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public static func validate(_ set: ClientKeySet) async throws(Problem) {
        guard !set.keys.isEmpty, set.keys.count <= maximumKeys else { throw Problem("must hold 1 to \(maximumKeys) keys") }
        var kids: Set<String> = []
        for (index, key) in set.keys.enumerated() {
            let field = "keys[\(index)]"
            if let member = key.keys.first(where: privateMembers.contains) {
                throw Problem("\(field) has the private member \(member): register public keys only")
            }
            guard let kid = key["kid"], !kid.isEmpty, kid.utf8.count <= 200 else { throw Problem("\(field).kid is required (1-200 bytes)") }
            guard kids.insert(kid).inserted else { throw Problem("\(field).kid repeats another key's") }
            if let use = key["use"], use != "sig" { throw Problem("\(field).use must be sig") }
            switch (key["kty"], key["crv"]) {
            case ("RSA", nil):
                guard let modulus = key["n"].flatMap(Base64URL.decode), modulus.drop(while: { $0 == 0 }).count >= 256 else {
                    throw Problem("\(field) must be an RSA key of at least 2048 bits")
                }
                if let alg = key["alg"], !["RS256", "PS256"].contains(alg) { throw Problem("\(field).alg must be RS256 or PS256") }
            case ("EC", "P-256"):
                if let alg = key["alg"], alg != "ES256" { throw Problem("\(field).alg must be ES256") }
                guard let x = key["x"].flatMap(Base64URL.decode), let y = key["y"].flatMap(Base64URL.decode), x.count == 32, y.count == 32,
                    (try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y)) != nil
                else { throw Problem("\(field) is not a usable public key (x, y)") }
            case ("OKP", "Ed25519"):
                if let alg = key["alg"], alg != "EdDSA" { throw Problem("\(field).alg must be EdDSA") }
                guard let x = key["x"].flatMap(Base64URL.decode), (try? Curve25519.Signing.PublicKey(rawRepresentation: x)) != nil else {
                    throw Problem("\(field) is not a usable public key (x)")
                }
            default:
                throw Problem("\(field) must be an RSA, EC P-256 or OKP Ed25519 key")
            }
            do {
                try await JWTKeyCollection().add(jwk: try jwk(key))
            } catch {
                throw Problem("\(field) is not a usable public key")
            }
        }
    }

    /// The key as jwt-kit reads it.
    static func jwk(_ key: [String: String]) throws -> JWK {
        try JSONDecoder().decode(JWK.self, from: try JSONEncoder().encode(key))
    }
}
