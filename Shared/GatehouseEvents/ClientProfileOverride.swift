/// A profile for one client id, or for the clients whose metadata documents are on a domain.
public struct ClientProfileOverride: Codable, Sendable, Equatable {
    public var clientId: String?
    public var documentDomain: String?
    public var accessTokenSeconds: Int?
    public var clientAuthentication: ClientAuthenticationPolicy?
    public var refreshGraceSeconds: Int?

    public init(clientId: String? = nil, documentDomain: String? = nil, profile: ClientProfile) {
        self.clientId = clientId
        self.documentDomain = documentDomain
        accessTokenSeconds = profile.accessTokenSeconds
        clientAuthentication = profile.clientAuthentication
        refreshGraceSeconds = profile.refreshGraceSeconds
    }

    public var profile: ClientProfile {
        ClientProfile(accessTokenSeconds: accessTokenSeconds, clientAuthentication: clientAuthentication, refreshGraceSeconds: refreshGraceSeconds)
    }
}
