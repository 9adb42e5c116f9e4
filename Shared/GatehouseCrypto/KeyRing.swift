import Crypto
import Foundation

/// AES-256-GCM keys by id, one of them current: what seals upstream tokens and secrets at rest
/// and the sealed authorization codes (docs/design.md invariants 3 and 6). Sealing uses the current
/// key and names its id in the output; opening finds the key by that id, so keys rotate by
/// adding a new current key and keeping the old ones until what they sealed has expired.
///
/// Sealed text: `<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The associated data (for
/// example the tenant and the purpose) is authenticated but not stored: opening with other
/// associated data fails, so a value sealed for one purpose or tenant is useless in another.
public struct KeyRing: Sendable, CustomStringConvertible {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public let currentKeyID: String
    let keys: [String: SymmetricKey]

    /// `keys`: id → 32 key bytes; `current` must be one of them. Ids are `[A-Za-z0-9_-]{1,32}`.
    public init(keys: [String: [UInt8]], current: String) throws {
        guard keys[current] != nil else { throw Failure(description: "the current key id '\(current)' has no key") }
        for (id, bytes) in keys {
            guard Self.isValidID(id) else { throw Failure(description: "key id '\(id)' must be 1-32 of A-Z a-z 0-9 _ -") }
            guard bytes.count == 32 else { throw Failure(description: "key '\(id)' must be 32 bytes, got \(bytes.count)") }
        }
        self.keys = keys.mapValues { SymmetricKey(data: $0) }
        self.currentKeyID = current
    }

    /// Reads `id:base64key[,id:base64key...]`; the first entry is the current key.
    public init(specification: String) throws {
        var keys: [String: [UInt8]] = [:]
        var first: String?
        for entry in specification.split(separator: ",") {
            let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let bytes = Base64URL.decode(parts[1]) ?? Data(base64Encoded: parts[1]).map(Array.init) else {
                throw Failure(description: "each key must be id:base64 (32 bytes)")
            }
            guard keys[parts[0]] == nil else { throw Failure(description: "key id '\(parts[0])' appears twice") }
            keys[parts[0]] = bytes
            first = first ?? parts[0]
        }
        guard let first else { throw Failure(description: "no key given") }
        try self.init(keys: keys, current: first)
    }

    public var keyIDs: [String] { keys.keys.sorted() }
    public var description: String { "KeyRing(current: \(currentKeyID), keys: \(keyIDs))" }

    public func seal(_ plaintext: [UInt8], associatedData: String) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: keys[currentKeyID]!, authenticating: Array(associatedData.utf8))
        guard let combined = box.combined else { throw Failure(description: "sealing failed") }
        return "\(currentKeyID).\(Base64URL.encode(Array(combined)))"
    }

    public func open(_ sealed: String, associatedData: String) throws -> [UInt8] {
        guard let dot = sealed.firstIndex(of: "."), let key = keys[String(sealed[..<dot])],
            let combined = Base64URL.decode(String(sealed[sealed.index(after: dot)...])), combined.count >= 28
        else {
            throw Failure(description: "not a value sealed by a known key")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(associatedData.utf8)))
        } catch {
            throw Failure(description: "the sealed value does not open (tampered, or sealed for something else)")
        }
    }

    /// The key id a sealed value names, without opening it.
    public static func keyID(of sealed: String) -> String? {
        sealed.firstIndex(of: ".").map { String(sealed[..<$0]) }
    }

    static func isValidID(_ id: String) -> Bool {
        (1...32).contains(id.utf8.count) && id.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// A fresh random 32-byte key, base64url, for configuration.
    public static func generateKey() -> String {
        Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }
}

extension UInt8 {
    /// `A-Z`, `a-z` or `0-9`.
    public var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
