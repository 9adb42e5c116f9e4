import Crypto
import Foundation
import GatehouseCrypto

/// RFC 7636 with S256 only (OAuth 2.1; `plain` is refused).
public enum PKCE {
    /// A challenge or verifier: 43-128 characters of `[A-Za-z0-9-._~]`.
    public static func isWellFormed(_ value: String) -> Bool {
        (43...128).contains(value.utf8.count)
            && value.utf8.allSatisfy {
                $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~")
            }
    }

    /// A S256 challenge is base64url (no padding) of a SHA-256: exactly 43 characters.
    public static func isWellFormedS256Challenge(_ value: String) -> Bool {
        value.utf8.count == 43 && Base64URL.decode(value)?.count == 32
    }

    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    public static func verify(verifier: String, challenge: String) -> Bool {
        isWellFormed(verifier) && constantTimeEqual(Array(self.challenge(for: verifier).utf8), Array(challenge.utf8))
    }

    /// A fresh verifier (for our own leg to the upstream).
    public static func makeVerifier() -> String { SecretGenerator.generate(prefix: "", bytes: 32) }
}
