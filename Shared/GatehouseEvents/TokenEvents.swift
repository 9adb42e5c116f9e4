import Foundation

/// Tokens were issued for a new grant: from a code, or to a service principal (client
/// credentials). Key: the grant id.
public struct TokenIssued: EventPayload {
    public static let eventType = EventType.tokenIssued
    /// 1.1: `user_id` and `code_hash` are absent for a service principal's grant, and
    /// `grant_type` names the grant (absent: `authorization_code`).
    public static let schemaVersion = SchemaVersion(1, 1)

    public var grantId: String
    /// The end user; nil for a service principal (the client itself).
    public var userId: String?
    public var clientId: String
    public var scopes: [String]
    public var resource: String
    public var accessTokenHash: String
    public var accessTokenExpiresAt: Date
    public var refreshFamilyId: String?
    /// The redeemed code's hash (authorization code grants only).
    public var codeHash: String?
    public var grantType: String?

    public init(
        grantId: String,
        userId: String?,
        clientId: String,
        scopes: [String],
        resource: String,
        accessTokenHash: String,
        accessTokenExpiresAt: Date,
        refreshFamilyId: String?,
        codeHash: String?,
        grantType: String? = nil
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
        self.grantType = grantType
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
    /// 1.1: `user_id` is absent for a service principal's grant.
    public static let schemaVersion = SchemaVersion(1, 1)

    public var grantId: String
    public var userId: String?
    public var clientId: String
    public var accessTokenHashes: [String]
    public var reason: String

    public init(grantId: String, userId: String?, clientId: String, accessTokenHashes: [String], reason: String) {
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
