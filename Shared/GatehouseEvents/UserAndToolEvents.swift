import Foundation

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
    /// 1.1 added the outcomes of proxied calls (`jsonrpc_error`, `upstream_failure`).
    public static let schemaVersion = SchemaVersion(1, 1)

    public enum Outcome: String, Codable, Sendable, CaseIterable {
        /// The tool ran and answered.
        case success
        /// The tool answered with `isError: true`.
        case error
        /// The caller's scopes do not allow the tool; it did not run.
        case denied
        /// A proxied call answered with a JSON-RPC error (unknown tool, bad arguments, ...).
        case jsonrpcError = "jsonrpc_error"
        /// A proxied call's upstream failed, timed out or answered something that is not MCP.
        case upstreamFailure = "upstream_failure"
    }

    public var invocationId: String
    /// The calling user; nil for a service principal (then `clientId` names it) and for an
    /// anonymous call of a tenant without login (then `clientId` is nil too).
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
