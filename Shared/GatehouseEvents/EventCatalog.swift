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
