/// Per-client adjustments; nil fields leave what applies already.
public struct ClientProfile: Codable, Sendable, Equatable {
    /// Lifetime of the access tokens the client receives (for clients that never refresh).
    public var accessTokenSeconds: Int?
    /// Which client authentication methods a confidential client may use.
    public var clientAuthentication: ClientAuthenticationPolicy?
    /// How long a replaced refresh token still yields its successor (for clients that retry late).
    public var refreshGraceSeconds: Int?

    public init(accessTokenSeconds: Int? = nil, clientAuthentication: ClientAuthenticationPolicy? = nil, refreshGraceSeconds: Int? = nil) {
        self.accessTokenSeconds = accessTokenSeconds
        self.clientAuthentication = clientAuthentication
        self.refreshGraceSeconds = refreshGraceSeconds
    }

    /// This profile's fields over `base`'s.
    public func overlaid(on base: ClientProfile) -> ClientProfile {
        ClientProfile(
            accessTokenSeconds: accessTokenSeconds ?? base.accessTokenSeconds,
            clientAuthentication: clientAuthentication ?? base.clientAuthentication,
            refreshGraceSeconds: refreshGraceSeconds ?? base.refreshGraceSeconds
        )
    }
}
