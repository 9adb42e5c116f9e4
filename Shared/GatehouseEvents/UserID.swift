import Crypto
import Foundation

/// The stable id of an end user, derived from the upstream identity that logged in:
/// `usr_` followed by 26 lower-case base32 characters (128 bits of a SHA-256 over the tenant,
/// the upstream issuer and the upstream subject).
///
/// Every service computes the same id from the same identity, so the gateway can put it into a
/// code and the token service into a token before the provisioning consumer has written the
/// user's row (docs/design.md invariant 2). It never depends on the email, which can change.
extension Identifier where Kind == IdentifierKinds.User {
    public static var prefix: String { "usr_" }
    static var encodedLength: Int { 26 }

    /// The id's text (the id itself: `UserID(derive(…))`), as events and codes carry it.
    public static func derive(tenant: String, issuer: String, subject: String) -> String {
        var hasher = SHA256()
        // Length-prefixed parts: no two different triples hash the same input.
        for part in ["gatehouse-user-v1", tenant, issuer, subject] {
            let bytes = Array(part.utf8)
            hasher.update(data: withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { Array($0) })
            hasher.update(data: bytes)
        }
        return prefix + Base32.encode(Array(hasher.finalize().prefix(16)))
    }

    /// Whether `text` has the shape of a derived id (it does not say that the user exists).
    public static func isWellFormed(_ text: String) -> Bool {
        guard text.hasPrefix(prefix) else { return false }
        let body = text.dropFirst(prefix.count)
        return body.count == encodedLength && body.utf8.allSatisfy { Base32.alphabet.contains($0) }
    }
}

/// RFC 4648 base32 in lower case, without padding.
enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }
}

extension UUID {
    /// A name-based UUID (version 8, RFC 9562 §5.8) from a SHA-256 of a namespace and a name:
    /// the same inputs always give the same id. Events derived from other events use it, so
    /// that producing one twice (a retried batch, a replay) yields the same event id, which
    /// every inbox then recognises.
    public static func derived(namespace: String, name: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Array("\(namespace)\u{0}\(name)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 9562 variant
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }
}
