/// An id of one kind of thing (a tenant, a client, a user, a grant), so that a function taking
/// a tenant and a user cannot be handed them the other way round. On the wire, in events and
/// in SQL it is the plain string it wraps; unlike a `Secret`, it prints as itself.
public struct Identifier<Kind: IdentifierKind>: Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static func < (lhs: Identifier, rhs: Identifier) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What an `Identifier` names.
public protocol IdentifierKind: Sendable {}

/// The kinds of id Gatehouse passes around.
public enum IdentifierKinds {
    public enum Tenant: IdentifierKind {}
    public enum Client: IdentifierKind {}
    public enum User: IdentifierKind {}
    public enum Grant: IdentifierKind {}
}

/// A tenant's id (`acme`).
public typealias TenantID = Identifier<IdentifierKinds.Tenant>
/// An OAuth client's id: one we issued (`mcp_client_…`) or a metadata document's URL.
public typealias ClientID = Identifier<IdentifierKinds.Client>
/// An end user's id, derived from the upstream identity (`UserID.derive`).
public typealias UserID = Identifier<IdentifierKinds.User>
/// A grant's id: the authorization a user gave a client, which its tokens belong to.
public typealias GrantID = Identifier<IdentifierKinds.Grant>
