import Foundation
import GatehouseCrypto

/// Tokens just minted: the clear values go to the client once; only their hashes are stored.
struct MintedTokens: Sendable {
    var accessToken: AccessToken
    var accessExpiresAt: Date
    var refreshToken: RefreshToken?
    var refreshExpiresAt: Date?
    var scopes: [String]
    var issuedAt: Date
    /// The thumbprint of the DPoP key the tokens are bound to (RFC 9449 §6), if any.
    var boundTo: String? = nil

    static let accessPrefix = "mcp_at_"
    static let refreshPrefix = "mcp_rt_"

    /// Tokens of a new grant: a random refresh token when the grant has one.
    init(scopes: [String], accessSeconds: Int, refreshSeconds: Int?, now: Date = Date()) {
        self.init(
            scopes: scopes,
            accessSeconds: accessSeconds,
            refreshToken: refreshSeconds.map { _ in RefreshToken.generate(prefix: Self.refreshPrefix) },
            refreshExpiresAt: refreshSeconds.map { now.addingTimeInterval(TimeInterval($0)) },
            now: now
        )
    }

    /// Tokens of a refresh: a new access token beside the refresh token the rotation settled on.
    /// Access tokens are issued and expire on whole seconds, the resolution of `iat` and `exp`
    /// (RFC 7662): introspection, the tool host and the database then judge expiry alike.
    init(scopes: [String], accessSeconds: Int, refreshToken: RefreshToken?, refreshExpiresAt: Date?, now: Date = Date()) {
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        accessToken = AccessToken.generate(prefix: Self.accessPrefix)
        accessExpiresAt = now.addingTimeInterval(TimeInterval(accessSeconds))
        self.refreshToken = refreshToken
        self.refreshExpiresAt = refreshExpiresAt
        self.scopes = scopes
        issuedAt = now
    }

    /// The same tokens bound to the DPoP key with this thumbprint (unbound for nil).
    func bound(to thumbprint: String?) -> MintedTokens {
        var tokens = self
        tokens.boundTo = thumbprint
        return tokens
    }

    var accessHash: String { accessToken.hash }
    var refreshHash: String? { refreshToken?.hash }
}
