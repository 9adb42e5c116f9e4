import Foundation
import GatehouseEvents

/// Who is calling a tool, resolved from the request's validated bearer token before any
/// tracking or tool code runs (never from a session map). It holds no secret.
package struct Principal: Sendable, Equatable {
    package var tenant: TenantID
    /// Gatehouse's user id (derived from tenant, upstream issuer and subject); nil for a service
    /// principal, a client acting for itself (client credentials), which `clientId` names.
    package var userId: UserID?
    /// The OAuth client the token was issued to.
    package var clientId: ClientID
    package var email: String?
    package var emailVerified: Bool
    package var name: String?
    package var scopes: Set<String>
    /// The grant the token belongs to (for revocation), and when the token expires.
    package var grantId: GrantID?
    package var expiresAt: Date?
    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`): nil for a bearer token.
    package var dpopThumbprint: String? = nil

    package init(
        tenant: TenantID,
        userId: UserID?,
        clientId: ClientID,
        email: String?,
        emailVerified: Bool,
        name: String?,
        scopes: Set<String>,
        grantId: GrantID? = nil,
        expiresAt: Date? = nil
    ) {
        self.tenant = tenant
        self.userId = userId
        self.clientId = clientId
        self.email = email
        self.emailVerified = emailVerified
        self.name = name
        self.scopes = scopes
        self.grantId = grantId
        self.expiresAt = expiresAt
    }

    /// A service principal: the client itself, with no end user, email or name.
    package static func service(
        tenant: TenantID,
        clientId: ClientID,
        scopes: Set<String>,
        grantId: GrantID? = nil,
        expiresAt: Date? = nil
    ) -> Principal {
        Principal(
            tenant: tenant,
            userId: nil,
            clientId: clientId,
            email: nil,
            emailVerified: false,
            name: nil,
            scopes: scopes,
            grantId: grantId,
            expiresAt: expiresAt
        )
    }

    /// Whether this is a service principal rather than a person.
    package var isService: Bool { userId == nil }

    /// The subject others know it by (`sub`): the user id, or a service principal's client id.
    package var subject: String { userId?.rawValue ?? clientId.rawValue }

    /// What sessions are bound to: never the same for a user and a service principal.
    package var sessionBinding: String { userId.map { "user:\($0)" } ?? "service:\(clientId)" }

    /// What a proxied session is sealed to: a user's id as sessions have always been, or a
    /// service principal's client id, marked so that it cannot pass for a user's.
    package var proxySessionSubject: String { userId?.rawValue ?? "service:\(clientId)" }

    /// The email a request may be filed under: only a verified one.
    package var verifiedEmail: String? { emailVerified ? email : nil }
}

/// The caller of one MCP request: a user with a validated token, or nobody, which only a
/// tenant without login (`none` mode) serves.
package enum Caller: Sendable, Equatable {
    case user(Principal)
    case anonymous(tenant: TenantID)

    package var tenant: TenantID {
        switch self {
        case .user(let principal): principal.tenant
        case .anonymous(let tenant): tenant
        }
    }

    package var principal: Principal? {
        if case .user(let principal) = self { return principal }
        return nil
    }

    /// The id sessions are bound to.
    var sessionSubject: String { principal?.sessionBinding ?? "anonymous" }
}

/// A tenant as the tool host serves it.
package struct ToolTenant: Sendable, Equatable {
    package enum AuthMode: String, Sendable { case oauth, none }
    package var id: TenantID
    package var displayName: String
    package var authMode: AuthMode
    /// The built-in tools, or the tenant's own MCP server behind the proxy.
    package var mcp: MCPEndpointSettings
    /// The grants and token binding the tenant offers (its DPoP settings, for `/mcp`).
    package var grants: TenantGrants
    /// Whether DPoP-bound tokens are issued and accepted.
    package var acceptsDPoP: Bool { grants.dpop }
    /// Whether every DPoP proof must carry a nonce `/mcp` handed out.
    package var requiresDPoPNonce: Bool { grants.requiresDPoPNonce }

    package init(
        id: TenantID,
        displayName: String,
        authMode: AuthMode,
        mcp: MCPEndpointSettings = MCPEndpointSettings(),
        grants: TenantGrants = TenantGrants()
    ) {
        self.id = id
        self.displayName = displayName
        self.authMode = authMode
        self.mcp = mcp
        self.grants = grants
    }
}
