import Crypto
import Foundation
import GatehouseCrypto

/// Server-provided DPoP nonces (RFC 9449 §8 and §9), without state: a nonce names a five-minute
/// interval and carries a MAC of it under a key every instance of the service holds, so any
/// instance accepts what another handed out. A nonce is accepted during its interval and the
/// next one; proofs made with it are then at most ten minutes after the server named it.
public struct DPoPNonces: Sendable {
    public static let interval: TimeInterval = 300
    private let key: SymmetricKey

    /// `secret`: key material of the service's own (a key ring's derived bytes, a session key).
    public init(secret: [UInt8]) {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), info: Array("gatehouse:dpop-nonce/v1".utf8), outputByteCount: 32)
    }

    /// The nonce of the current interval.
    public func current(now: Date = Date()) -> String { nonce(interval: Self.number(now)) }

    /// Whether `nonce` is this service's, of the current interval or the one before.
    public func accepts(_ nonce: String?, now: Date = Date()) -> Bool {
        guard let nonce else { return false }
        let number = Self.number(now)
        return [number, number - 1].contains { constantTimeEqual(Array(self.nonce(interval: $0).utf8), Array(nonce.utf8)) }
    }

    private func nonce(interval: Int64) -> String {
        let bytes = withUnsafeBytes(of: interval.bigEndian) { Array($0) }
        let mac = HMAC<SHA256>.authenticationCode(for: bytes, using: key)
        return Base64URL.encode(bytes + Array(mac).prefix(16))
    }

    private static func number(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / interval).rounded(.down)) }
}
