import GatehouseEvents

/// A tenant as the token service knows it, from `tenant.updated`.
package struct TokenTenant: Sendable, Equatable {
    package var id: TenantID
    package var accessTokenSeconds: Int
    package var refreshTokenSeconds: Int
    package var freshUpstreamProfile: Bool
    package var clientProfiles: ClientProfiles = ClientProfiles()
    package var grants: TenantGrants = TenantGrants()
}
