import Foundation

/// A code was issued at the end of the upstream callback. Carries the code's hash and binding
/// (never the code) for the token service's ledger. Key: the code hash.
public struct CodeIssued: EventPayload {
    public static let eventType = EventType.codeIssued
    public static let schemaVersion = SchemaVersion(1, 0)

    public var codeHash: String
    public var clientId: String
    public var redirectUri: String
    public var codeChallenge: String
    public var codeChallengeMethod: String
    public var resource: String
    public var scopes: [String]
    public var userId: String
    public var sealingKeyId: String
    public var issuedAt: Date
    public var expiresAt: Date

    public init(
        codeHash: String,
        clientId: String,
        redirectUri: String,
        codeChallenge: String,
        codeChallengeMethod: String = "S256",
        resource: String,
        scopes: [String],
        userId: String,
        sealingKeyId: String,
        issuedAt: Date,
        expiresAt: Date
    ) {
        self.codeHash = codeHash
        self.clientId = clientId
        self.redirectUri = redirectUri
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.resource = resource
        self.scopes = scopes
        self.userId = userId
        self.sealingKeyId = sealingKeyId
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// The gateway stored (encrypted) upstream tokens for an identity. Carries the identity, never
/// a token. Key: the user id (`UserID.derive` of tenant, issuer and subject); the aggregate
/// version increases with every login of that identity.
///
/// 1.1 added `email_linking`, the tenant's policy at the time of the login.
public struct UpstreamTokenStored: EventPayload {
    public static let eventType = EventType.upstreamTokenStored
    public static let schemaVersion = SchemaVersion(1, 1)

    public var userId: String
    public var upstreamIssuer: String
    public var upstreamSubject: String
    public var email: String?
    public var emailVerified: Bool
    public var name: String?
    public var upstreamTokenId: String
    /// Absent in 1.0 events, which means `.none`.
    public var emailLinking: EmailLinkingPolicy?

    public init(
        userId: String,
        upstreamIssuer: String,
        upstreamSubject: String,
        email: String?,
        emailVerified: Bool,
        name: String?,
        upstreamTokenId: String,
        emailLinking: EmailLinkingPolicy? = nil
    ) {
        self.userId = userId
        self.upstreamIssuer = upstreamIssuer
        self.upstreamSubject = upstreamSubject
        self.email = email
        self.emailVerified = emailVerified
        self.name = name
        self.upstreamTokenId = upstreamTokenId
        self.emailLinking = emailLinking
    }
}

/// Whether a tenant treats upstream identities with the same verified email as one person.
/// A string, so that a policy added later reads as an unknown value rather than a broken event.
public struct EmailLinkingPolicy: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }

    /// Every upstream identity is its own user, whatever its email (the default).
    public static let none = EmailLinkingPolicy(rawValue: "none")
    /// Identities of one tenant whose emails are equal (ignoring case) and verified upstream are
    /// one user; the identity seen first is its primary.
    public static let verifiedEmail = EmailLinkingPolicy(rawValue: "verified_email")
}

/// The registered state of an OAuth client. The token service authenticates clients from this
/// projection; the secret appears only as its hash. Key: the client id.
public struct ClientRegistered: EventPayload {
    public static let eventType = EventType.clientRegistered
    /// 1.1 added `jwks`, the public keys of a `private_key_jwt` client.
    public static let schemaVersion = SchemaVersion(1, 1)

    public var clientId: String
    public var clientName: String?
    public var applicationType: String
    public var redirectUris: [String]
    public var grantTypes: [String]
    public var responseTypes: [String]
    public var tokenEndpointAuthMethod: String
    public var scope: String?
    public var clientSecretHash: String?
    public var metadataDocumentUrl: String?
    /// `private_key_jwt`: the keys its assertions must verify with (nil for any other method).
    public var jwks: ClientKeySet?

    public init(
        clientId: String,
        clientName: String?,
        applicationType: String,
        redirectUris: [String],
        grantTypes: [String],
        responseTypes: [String],
        tokenEndpointAuthMethod: String,
        scope: String?,
        clientSecretHash: String?,
        metadataDocumentUrl: String?,
        jwks: ClientKeySet? = nil
    ) {
        self.clientId = clientId
        self.clientName = clientName
        self.applicationType = applicationType
        self.redirectUris = redirectUris
        self.grantTypes = grantTypes
        self.responseTypes = responseTypes
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.scope = scope
        self.clientSecretHash = clientSecretHash
        self.metadataDocumentUrl = metadataDocumentUrl
        self.jwks = jwks
    }
}

/// A client's new full state (for example disabled, or its registration expired). Key: the client id.
public struct ClientUpdated: EventPayload {
    public static let eventType = EventType.clientUpdated
    public static let schemaVersion = SchemaVersion(1, 0)

    public var client: ClientRegistered
    public var disabled: Bool

    public init(client: ClientRegistered, disabled: Bool) {
        self.client = client
        self.disabled = disabled
    }
}

/// A tenant's full state as the token service and the tool host need it: its host names and
/// token policy (never its upstream secret). Key: the tenant id; the aggregate version is the
/// tenant's version, so a projection keeps the newest.
public struct TenantUpdated: EventPayload {
    public static let eventType = EventType.tenantUpdated
    /// 1.1 added `client_profiles`, 1.2 `mcp` (absent: the defaults, a hosted endpoint), 1.3
    /// `grants` (absent: none beyond authorization code and refresh).
    public static let schemaVersion = SchemaVersion(1, 3)

    public var tenantId: String
    public var displayName: String
    public var hosts: [String]
    public var authMode: String
    public var disabled: Bool
    public var accessTokenSeconds: Int
    public var refreshTokenSeconds: Int
    /// Userinfo asks the upstream (through the gateway) for the current profile.
    public var freshUpstreamProfile: Bool
    /// How the token service treats particular clients (nil: the defaults).
    public var clientProfiles: ClientProfiles?
    /// What the tenant's `/mcp` serves (nil: the built-in tools).
    public var mcp: MCPEndpointSettings?
    /// The grants offered beyond authorization code and refresh (nil: none).
    public var grants: TenantGrants?

    public init(
        tenantId: String,
        displayName: String,
        hosts: [String],
        authMode: String,
        disabled: Bool,
        accessTokenSeconds: Int,
        refreshTokenSeconds: Int,
        freshUpstreamProfile: Bool = false,
        clientProfiles: ClientProfiles? = nil,
        mcp: MCPEndpointSettings? = nil,
        grants: TenantGrants? = nil
    ) {
        self.tenantId = tenantId
        self.displayName = displayName
        self.hosts = hosts
        self.authMode = authMode
        self.disabled = disabled
        self.accessTokenSeconds = accessTokenSeconds
        self.refreshTokenSeconds = refreshTokenSeconds
        self.freshUpstreamProfile = freshUpstreamProfile
        self.clientProfiles = clientProfiles
        self.mcp = mcp
        self.grants = grants
    }
}
