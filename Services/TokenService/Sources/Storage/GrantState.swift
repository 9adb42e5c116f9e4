import Foundation
import GatehouseEvents

/// A grant as a refresh, revocation or introspection sees it.
struct GrantState: Sendable {
    var grantId: GrantID
    var tenant: TenantID
    var clientId: ClientID
    /// nil for a service principal's grant (client credentials).
    var userId: UserID?
    var scopes: [String]
    var resource: String
    var client: RegisteredClient
    var revoked: Bool
    var generation: Int
    var refreshHash: String?
    var previousRefreshHash: String?
    var refreshedAt: Date?
    var refreshExpiresAt: Date?
    /// The key ring's key that derived the live refresh token from the one it replaced.
    var refreshKeyID: String?
    /// The thumbprint of the DPoP key the grant is bound to, if any.
    var dpopThumbprint: String? = nil
    /// The database's clock when the grant was read (windows are judged by one clock).
    var now: Date
}
