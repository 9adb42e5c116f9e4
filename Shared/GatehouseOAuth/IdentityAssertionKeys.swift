import Crypto
import Foundation
import GatehouseCrypto
import JWTKit
import Synchronization

/// The ES256 keys that sign identity assertions for tenants' own MCP servers (docs/design.md
/// invariant 8), one per tenant and ring key, derived from a key ring the tool host (which
/// signs) and the token service (which publishes the public halves at `/oauth/jwks`) share.
/// Nothing is stored: the private key is computed when needed and never leaves the process.
///
/// Rotation: add a new key to the ring *after* the current one (it is published at once but
/// not used), wait for verifiers' JWKS caches to refresh, then put it first (it signs), and
/// remove the old key once the last assertion it signed has expired (5 minutes).
public final class IdentityAssertionKeys: Sendable {
    /// One tenant's key under one ring key.
    public struct SigningKey: Sendable {
        /// RFC 7638 thumbprint of the public key, which is what the JWKS names it by.
        public let kid: String
        public let privateKey: P256.Signing.PrivateKey
        /// The public key as a JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
        public let publicJWK: [String: String]
    }

    static let purpose = "identity-assertion/v1"
    private let ring: KeyRing
    private let cache = Mutex<[String: [SigningKey]]>([:])

    public init(ring: KeyRing) { self.ring = ring }

    /// The key new assertions of `tenant` are signed with (under the ring's current key).
    public func signingKey(tenant: String) -> SigningKey { keys(tenant: tenant)[0] }

    /// Every public key of `tenant`, the signing one first: its JWKS.
    public func publicJWKs(tenant: String) -> [[String: String]] { keys(tenant: tenant).map(\.publicJWK) }

    private func keys(tenant: String) -> [SigningKey] {
        if let known = cache.withLock({ $0[tenant] }) { return known }
        let derived = ring.keyIDsCurrentFirst.map { Self.derive(ring: ring, keyID: $0, tenant: tenant) }
        cache.withLock { $0[tenant] = derived }
        return derived
    }

    /// A P-256 scalar from HKDF output; the rare output outside the curve's order (about 2^-32)
    /// is skipped by deriving again with a counter.
    static func derive(ring: KeyRing, keyID: String, tenant: String) -> SigningKey {
        var attempt = 0
        while true {
            let bytes = ring.derivedBytes(purpose: purpose, context: "\(tenant)\n\(attempt)", keyID: keyID)!
            if let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes) { return signingKey(for: key) }
            attempt += 1
        }
    }

    static func signingKey(for key: P256.Signing.PrivateKey) -> SigningKey {
        let raw = Array(key.publicKey.rawRepresentation)
        let x = Base64URL.encode(Array(raw[0..<32]))
        let y = Base64URL.encode(Array(raw[32..<64]))
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let thumbprintInput = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        let kid = Base64URL.encode(Array(SHA256.hash(data: Array(thumbprintInput.utf8))))
        return SigningKey(
            kid: kid,
            privateKey: key,
            publicJWK: ["kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"]
        )
    }

    /// Reads `GATEHOUSE_ASSERTION_KEYS` (`id:base64key[,id:base64key...]`, the first signs).
    public convenience init(specification: String) throws {
        self.init(ring: try KeyRing(specification: specification))
    }
}
