import Foundation

/// An active token as introspection and userinfo report it.
struct ActiveToken: Sendable, Equatable {
    var grantId: String
    var tenant: String
    var clientId: String
    /// nil for a service principal (client credentials): then `clientId` is the subject.
    var userId: String?
    var scopes: [String]
    var resource: String
    var issuedAt: Date
    var expiresAt: Date
    var email: String?
    var emailVerified: Bool
    var name: String?
    /// The thumbprint of the DPoP key the token is bound to, if any.
    var dpopThumbprint: String? = nil
}
