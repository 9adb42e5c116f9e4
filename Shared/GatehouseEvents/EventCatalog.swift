import Foundation

/// A named event type and the topic it travels on. Events of one aggregate share a topic so
/// that their order is kept (one key, one partition).
public struct EventType: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var topic: String

    public init(name: String, topic: String) {
        self.name = name
        self.topic = topic
    }

    public var description: String { name }
}

/// The topics of the platform.
public enum Topics {
    /// Gateway: codes, upstream identities, client registrations.
    public static let gateway = "gatehouse.gateway"
    /// Token service: token lifecycle for the audit trail and tool-host caches.
    public static let tokens = "gatehouse.tokens"
    /// User provisioning: canonical profiles.
    public static let users = "gatehouse.users"
    /// Tool host: tool invocations for usage tracking.
    public static let tools = "gatehouse.tools"
    /// Messages no consumer could process, with context headers.
    public static let deadLetter = "gatehouse.dead-letter"

    public static let all = [gateway, tokens, users, tools, deadLetter]
}

/// A typed event payload with its catalog entry.
public protocol EventPayload: Codable, Sendable, Equatable {
    static var eventType: EventType { get }
    /// The version this code writes; readers accept every minor of its major.
    static var schemaVersion: SchemaVersion { get }
}

extension EventType {
    public static let codeIssued = EventType(name: "code.issued", topic: Topics.gateway)
    public static let upstreamTokenStored = EventType(name: "upstream-token.stored", topic: Topics.gateway)
    public static let clientRegistered = EventType(name: "client.registered", topic: Topics.gateway)
    public static let clientUpdated = EventType(name: "client.updated", topic: Topics.gateway)
    public static let tenantUpdated = EventType(name: "tenant.updated", topic: Topics.gateway)
    public static let tokenIssued = EventType(name: "token.issued", topic: Topics.tokens)
    public static let tokenRefreshed = EventType(name: "token.refreshed", topic: Topics.tokens)
    public static let tokenRevoked = EventType(name: "token.revoked", topic: Topics.tokens)
    public static let tokenReuseDetected = EventType(name: "token.reuse-detected", topic: Topics.tokens)
    public static let userUpserted = EventType(name: "user.upserted", topic: Topics.users)
    public static let toolInvoked = EventType(name: "tool.invoked", topic: Topics.tools)
}

/// Every payload type of the catalog, for routing and for the fixture tests.
public enum EventCatalog {
    public static let payloadTypes: [any EventPayload.Type] = [
        CodeIssued.self, UpstreamTokenStored.self, ClientRegistered.self, ClientUpdated.self, TenantUpdated.self,
        TokenIssued.self, TokenRefreshed.self, TokenRevoked.self, TokenReuseDetected.self,
        UserUpserted.self, ToolInvoked.self,
    ]

    public static func payloadType(named name: String) -> (any EventPayload.Type)? {
        payloadTypes.first { $0.eventType.name == name }
    }
}

// MARK: - Gateway events

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
    public static let schemaVersion = SchemaVersion(1, 0)

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
        metadataDocumentUrl: String?
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
    /// 1.1 added `client_profiles` (absent in 1.0: the defaults).
    public static let schemaVersion = SchemaVersion(1, 1)

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

    public init(
        tenantId: String,
        displayName: String,
        hosts: [String],
        authMode: String,
        disabled: Bool,
        accessTokenSeconds: Int,
        refreshTokenSeconds: Int,
        freshUpstreamProfile: Bool = false,
        clientProfiles: ClientProfiles? = nil
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
    }
}

// MARK: - Token events

/// Tokens were issued for a grant from a code. Key: the grant id.
public struct TokenIssued: EventPayload {
    public static let eventType = EventType.tokenIssued
    public static let schemaVersion = SchemaVersion(1, 0)

    public var grantId: String
    public var userId: String
    public var clientId: String
    public var scopes: [String]
    public var resource: String
    public var accessTokenHash: String
    public var accessTokenExpiresAt: Date
    public var refreshFamilyId: String?
    public var codeHash: String

    public init(
        grantId: String,
        userId: String,
        clientId: String,
        scopes: [String],
        resource: String,
        accessTokenHash: String,
        accessTokenExpiresAt: Date,
        refreshFamilyId: String?,
        codeHash: String
    ) {
        self.grantId = grantId
        self.userId = userId
        self.clientId = clientId
        self.scopes = scopes
        self.resource = resource
        self.accessTokenHash = accessTokenHash
        self.accessTokenExpiresAt = accessTokenExpiresAt
        self.refreshFamilyId = refreshFamilyId
        self.codeHash = codeHash
    }
}

/// A refresh token was rotated. Key: the grant id.
public struct TokenRefreshed: EventPayload {
    public static let eventType = EventType.tokenRefreshed
    public static let schemaVersion = SchemaVersion(1, 0)

    public var grantId: String
    public var userId: String
    public var clientId: String
    public var scopes: [String]
    public var accessTokenHash: String
    public var accessTokenExpiresAt: Date
    public var refreshFamilyId: String
    public var generation: Int

    public init(
        grantId: String,
        userId: String,
        clientId: String,
        scopes: [String],
        accessTokenHash: String,
        accessTokenExpiresAt: Date,
        refreshFamilyId: String,
        generation: Int
    ) {
        self.grantId = grantId
        self.userId = userId
        self.clientId = clientId
        self.scopes = scopes
        self.accessTokenHash = accessTokenHash
        self.accessTokenExpiresAt = accessTokenExpiresAt
        self.refreshFamilyId = refreshFamilyId
        self.generation = generation
    }
}

/// Tokens stopped being valid; tool hosts drop them from their caches. Key: the grant id.
public struct TokenRevoked: EventPayload {
    public static let eventType = EventType.tokenRevoked
    public static let schemaVersion = SchemaVersion(1, 0)

    public var grantId: String
    public var userId: String
    public var clientId: String
    public var accessTokenHashes: [String]
    public var reason: String

    public init(grantId: String, userId: String, clientId: String, accessTokenHashes: [String], reason: String) {
        self.grantId = grantId
        self.userId = userId
        self.clientId = clientId
        self.accessTokenHashes = accessTokenHashes
        self.reason = reason
    }
}

/// A rotated-out refresh token was presented again; its family was revoked. Key: the grant id.
public struct TokenReuseDetected: EventPayload {
    public static let eventType = EventType.tokenReuseDetected
    public static let schemaVersion = SchemaVersion(1, 0)

    public var grantId: String
    public var userId: String
    public var clientId: String
    public var refreshFamilyId: String
    public var presentedGeneration: Int
    public var currentGeneration: Int

    public init(
        grantId: String,
        userId: String,
        clientId: String,
        refreshFamilyId: String,
        presentedGeneration: Int,
        currentGeneration: Int
    ) {
        self.grantId = grantId
        self.userId = userId
        self.clientId = clientId
        self.refreshFamilyId = refreshFamilyId
        self.presentedGeneration = presentedGeneration
        self.currentGeneration = currentGeneration
    }
}

// MARK: - Users and tools

/// The canonical end-user profile. Key: the user id.
public struct UserUpserted: EventPayload {
    public static let eventType = EventType.userUpserted
    public static let schemaVersion = SchemaVersion(1, 0)

    public var userId: String
    public var upstreamIssuer: String
    public var upstreamSubject: String
    public var email: String?
    public var emailVerified: Bool
    public var name: String?
    public var firstSeenAt: Date

    public init(
        userId: String,
        upstreamIssuer: String,
        upstreamSubject: String,
        email: String?,
        emailVerified: Bool,
        name: String?,
        firstSeenAt: Date
    ) {
        self.userId = userId
        self.upstreamIssuer = upstreamIssuer
        self.upstreamSubject = upstreamSubject
        self.email = email
        self.emailVerified = emailVerified
        self.name = name
        self.firstSeenAt = firstSeenAt
    }
}

/// A tool was called, by whom, with what outcome. Key: the user id (or the tool name for
/// anonymous calls of a public tool).
public struct ToolInvoked: EventPayload {
    public static let eventType = EventType.toolInvoked
    public static let schemaVersion = SchemaVersion(1, 0)

    public enum Outcome: String, Codable, Sendable { case success, error, denied }

    public var invocationId: String
    public var userId: String?
    public var clientId: String?
    public var tool: String
    public var outcome: Outcome
    public var durationMs: Double

    public init(invocationId: String, userId: String?, clientId: String?, tool: String, outcome: Outcome, durationMs: Double) {
        self.invocationId = invocationId
        self.userId = userId
        self.clientId = clientId
        self.tool = tool
        self.outcome = outcome
        self.durationMs = durationMs
    }
}
