import GatehouseEvents

/// A tenant as the token service knows it, from `tenant.updated`.
public struct TokenTenant: Sendable, Equatable {
    public var id: String
    public var accessTokenSeconds: Int
    public var refreshTokenSeconds: Int
    public var freshUpstreamProfile: Bool
    public var clientProfiles: ClientProfiles = ClientProfiles()
}
