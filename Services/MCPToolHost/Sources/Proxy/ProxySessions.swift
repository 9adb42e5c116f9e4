import Crypto
import Foundation
import GatehouseCrypto
import GatehouseEvents

/// The upstream's `Mcp-Session-Id`, handed to the client only sealed (AES-GCM) to the tenant
/// and the user (or service principal) who opened the session. Any instance opens it with the shared session key; the
/// same id presented with another user's token does not open, and is answered 404 as the
/// transport specifies for an unknown session. No map is kept anywhere.
struct ProxySessions: Sendable {
    /// Longest upstream session id carried (the transport allows visible ASCII of any length;
    /// real servers use UUIDs or similar).
    static let maximumUpstreamLength = 512
    private let key: SymmetricKey

    init(sessionKey: SymmetricKey) {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: sessionKey, info: Array("gatehouse:proxy-session/v1".utf8), outputByteCount: 32)
    }

    /// The id the client sees; nil when the upstream's id is not one the transport allows.
    func wrap(_ upstream: String, tenant: TenantID, subject: String) -> String? {
        guard (1...Self.maximumUpstreamLength).contains(upstream.utf8.count), upstream.utf8.allSatisfy({ (0x21...0x7E).contains($0) }),
            let box = try? AES.GCM.seal(Array(upstream.utf8), using: key, authenticating: Self.binding(tenant, subject)),
            let combined = box.combined
        else { return nil }
        return Base64URL.encode(Array(combined))
    }

    /// The upstream's id inside `wrapped`, if it was sealed for this tenant and user.
    func unwrap(_ wrapped: String, tenant: TenantID, subject: String) -> String? {
        guard wrapped.utf8.count <= 2 * Self.maximumUpstreamLength, let combined = Base64URL.decode(wrapped), combined.count > 28,
            let box = try? AES.GCM.SealedBox(combined: combined),
            let plain = try? AES.GCM.open(box, using: key, authenticating: Self.binding(tenant, subject))
        else { return nil }
        return String(decoding: plain, as: UTF8.self)
    }

    /// `subject`: a principal's `proxySessionSubject`.
    private static func binding(_ tenant: TenantID, _ subject: String) -> [UInt8] {
        Array("gatehouse-proxy-session/v1\n\(tenant)\n\(subject)".utf8)
    }
}
