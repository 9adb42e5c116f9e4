import Crypto

extension KeyRing {
    /// HMAC-SHA256 of `message` under a key derived (HKDF-SHA256) from the ring's key `keyID` for
    /// one `purpose`: a value only the holders of the ring can compute, and that differs per
    /// purpose, so the AEAD keys are never used directly as MAC keys. nil when the ring has no
    /// key with that id (it was retired).
    public func authenticationCode(for message: [UInt8], purpose: String, keyID: String) -> [UInt8]? {
        guard let key = keys[keyID] else { return nil }
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("gatehouse:\(purpose)".utf8), outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: derived))
    }
}

extension KeyRing {
    /// `count` bytes derived (HKDF-SHA256) from the ring's key `keyID` for one `purpose` and
    /// `context`: key material only the holders of the ring can compute, different for every
    /// purpose and context. nil when the ring has no key with that id.
    public func derivedBytes(purpose: String, context: String, keyID: String, count: Int = 32) -> [UInt8]? {
        guard let key = keys[keyID] else { return nil }
        let info = Array("gatehouse:\(purpose)\n\(context)".utf8)
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: info, outputByteCount: count).withUnsafeBytes { Array($0) }
    }

    /// The ring's key ids with the current one first, then the others by id.
    public var keyIDsCurrentFirst: [String] { [currentKeyID] + keyIDs.filter { $0 != currentKeyID } }
}
