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
