import Crypto
import GatehouseCrypto

/// MCP session ids without server-side state: 128 random bits and a MAC that binds them to
/// the tenant and the user who initialized the session (`<random>.<mac>`, base64url, visible
/// ASCII as the transport requires). Every instance shares the key, so any instance accepts a
/// session any other created; another user's token with that id is refused (404), as is a
/// forged or altered id.
package struct MCPSessions: Sendable {
    private let key: SymmetricKey

    package init(key: SymmetricKey) { self.key = key }

    package func issue(for caller: Caller) -> String {
        let nonce = Base64URL.encode(SecretGenerator.randomBytes(16))
        return nonce + "." + mac(nonce: nonce, caller: caller)
    }

    /// Whether `id` is a session this caller created at this tenant.
    package func accepts(_ id: String, for caller: Caller) -> Bool {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 22, id.utf8.count <= 128 else { return false }
        return constantTimeEqual(Array(mac(nonce: String(parts[0]), caller: caller).utf8), Array(parts[1].utf8))
    }

    private func mac(nonce: String, caller: Caller) -> String {
        let message = "gatehouse-mcp-session/v1\n\(caller.tenant)\n\(caller.sessionSubject)\n\(nonce)"
        return Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)))
    }
}
