import Crypto
import Foundation
import GatehouseCrypto

/// RFC 7636 with S256 only (OAuth 2.1; `plain` is refused).
public enum PKCE {
    /// A challenge or verifier: 43-128 characters of `[A-Za-z0-9-._~]`.
    public static func isWellFormed(_ value: String) -> Bool {
        (43...128).contains(value.utf8.count) && value.utf8.allSatisfy {
            $0.isASCIIAlphanumericByte || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~")
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
        guard isWellFormed(verifier) else { return false }
        let computed = Array(self.challenge(for: verifier).utf8)
        let expected = Array(challenge.utf8)
        guard computed.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in computed.indices { difference |= computed[index] ^ expected[index] }
        return difference == 0
    }

    /// A fresh verifier (for our own leg to the upstream).
    public static func makeVerifier() -> String { SecretGenerator.generate(prefix: "", bytes: 32) }
}

extension UInt8 {
    var isASCIIAlphanumericByte: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
