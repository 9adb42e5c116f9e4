import GatehouseCrypto

/// The successor of a refresh token: an HMAC of the presented token (with the grant and the
/// generation it opens) under a key derived from the shared key ring. Only its hash is stored,
/// yet the token it replaced can be turned into it again during the grace window, on any
/// instance. The grant records the key id, so a key rotation inside the window changes nothing.
enum RefreshSuccessor {
    static let purpose = "refresh-successor:v1"

    /// The successor of `presented` at `generation`; nil when the ring no longer has `keyID`.
    static func derive(from presented: RefreshToken, grantId: String, generation: Int, keyRing: KeyRing, keyID: String) -> RefreshToken? {
        let message = Array("\(grantId)\u{0}\(generation)\u{0}\(presented.revealed)".utf8)
        guard let mac = keyRing.authenticationCode(for: message, purpose: purpose, keyID: keyID) else { return nil }
        return RefreshToken(MintedTokens.refreshPrefix + Base64URL.encode(mac))
    }
}
