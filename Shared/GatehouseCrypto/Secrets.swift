import Crypto
import Foundation

/// High-entropy secrets we issue (client secrets, codes, tokens): a recognisable prefix and
/// 256 random bits, base64url. Stored only as `SecretHash`.
public enum SecretGenerator {
    public static func generate(prefix: String, bytes: Int = 32) -> String {
        prefix + Base64URL.encode(randomBytes(bytes))
    }

    /// Cryptographically secure random bytes from BoringSSL's generator (seeded by the kernel;
    /// one call per secret rather than a system call per eight bytes).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }
}

/// The stored form of a secret we issued: SHA-256, hex. Our secrets carry 256 random bits, so a
/// fast hash is enough (no password stretching): guessing the preimage is hopeless either way.
public enum SecretHash {
    public static func of(_ secret: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(secret.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// Whether `secret` hashes to `hash`, in time independent of where they differ.
    public static func matches(_ secret: String, hash: String) -> Bool {
        constantTimeEqual(Array(of(secret).utf8), Array(hash.utf8))
    }
}

/// Compares two byte strings in time that depends only on their lengths (secrets, digests,
/// PKCE challenges, nonces: where an early exit would tell an attacker how much matched).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// Base64url without padding (RFC 4648 §5), as OAuth uses it. The alphabet is swapped byte by
/// byte around Foundation's Base64: string replacement goes through `NSString` on Linux and
/// cost more than the rest of a DPoP proof's parsing.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        var encoded = Array(Data(bytes).base64EncodedData())
        while encoded.last == UInt8(ascii: "=") { encoded.removeLast() }
        for index in encoded.indices {
            switch encoded[index] {
            case UInt8(ascii: "+"): encoded[index] = UInt8(ascii: "-")
            case UInt8(ascii: "/"): encoded[index] = UInt8(ascii: "_")
            default: continue
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        var bytes = Array(text.utf8)
        for index in bytes.indices {
            switch bytes[index] {
            case UInt8(ascii: "-"): bytes[index] = UInt8(ascii: "+")
            case UInt8(ascii: "_"): bytes[index] = UInt8(ascii: "/")
            case let byte where byte.isASCIIAlphanumeric: continue
            default: return nil
            }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(bytes)).map(Array.init)
    }
}
