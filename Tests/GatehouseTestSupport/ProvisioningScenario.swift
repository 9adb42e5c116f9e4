import Foundation
import GatehouseEvents
import GatehouseKafka

/// A seeded corpus of the events the provisioning service consumes: logins of many users across
/// tenants (as `upstream-token.stored`, with email and name changes between logins) and tool
/// calls (as `tool.invoked`, some before the caller's first login, some anonymous).
public struct ProvisioningScenario: Sendable {
    public enum Event: Sendable {
        case login(EventEnvelope<UpstreamTokenStored>)
        case toolCall(EventEnvelope<ToolInvoked>)

        public var header: EventHeader {
            switch self {
            case .login(let envelope): envelope.header
            case .toolCall(let envelope): envelope.header
            }
        }

        public func encoded() throws -> [UInt8] {
            switch self {
            case .login(let envelope): try EventCodec.encode(envelope)
            case .toolCall(let envelope): EventCodec.encode(envelope)
            }
        }

        public var isLogin: Bool { if case .login = self { true } else { false } }
    }

    public struct Options: Sendable {
        public var tenants = 3
        public var usersPerTenant = 40
        public var events = 1_000
        /// Share of events that are logins; the rest are tool calls.
        public var loginShare = 0.3
        public var seed: UInt64 = 1
        public var linking: EmailLinkingPolicy = .none
        public init() {}
    }

    public let events: [Event]
    public let tenants: [String]

    public static let tools = ["get_support", "list_my_support_requests", "whoami"]

    public init(_ options: Options) {
        var random = SeededGenerator(seed: options.seed)
        let tenants = (0..<options.tenants).map { "tenant-\($0)-\(options.seed)" }
        struct Identity {
            var tenant: String
            var issuer: String
            var subject: String
            var userId: String
            var version: Int64 = 0
        }
        var identities: [Identity] = []
        for tenant in tenants {
            for index in 0..<options.usersPerTenant {
                let issuer = index % 2 == 0 ? "https://idp-a.example/\(tenant)" : "https://idp-b.example"
                let subject = "sub-\(index)"
                identities.append(
                    Identity(
                        tenant: tenant,
                        issuer: issuer,
                        subject: subject,
                        userId: UserID.derive(tenant: tenant, issuer: issuer, subject: subject)
                    )
                )
            }
        }
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        var events: [Event] = []
        events.reserveCapacity(options.events)
        for sequence in 0..<options.events {
            let at = start.addingTimeInterval(Double(sequence) * 0.5)
            let index = Int.random(in: 0..<identities.count, using: &random)
            let identity = identities[index]
            if Double.random(in: 0..<1, using: &random) < options.loginShare {
                identities[index].version += 1
                let version = identities[index].version
                // A few emails change between logins; a few users share one address.
                let emailNumber = Int.random(in: 0..<10, using: &random) == 0 ? version : 1
                let shared = index % 7 == 0 ? "shared@\(identity.tenant).example" : nil
                let email = shared ?? "\(identity.subject).\(emailNumber)@example.org"
                let payload = UpstreamTokenStored(
                    userId: identity.userId,
                    upstreamIssuer: identity.issuer,
                    upstreamSubject: identity.subject,
                    email: email,
                    emailVerified: index % 3 != 0,
                    name: "User \(identity.subject) v\(version % 3)",
                    upstreamTokenId: "ut-\(sequence)",
                    emailLinking: options.linking
                )
                events.append(
                    .login(
                        EventEnvelope(
                            eventId: Self.uuid(&random),
                            occurredAt: at,
                            tenant: identity.tenant,
                            aggregateKey: identity.userId,
                            aggregateVersion: version,
                            payload: payload
                        )
                    )
                )
            } else {
                let anonymous = Int.random(in: 0..<20, using: &random) == 0
                let roll = Int.random(in: 0..<10, using: &random)
                let outcome: ToolInvoked.Outcome = roll == 0 ? .error : roll == 1 ? .denied : .success
                let payload = ToolInvoked(
                    invocationId: "inv-\(sequence)",
                    userId: anonymous ? nil : identity.userId,
                    clientId: anonymous ? nil : "mcp_client_\(index % 5)",
                    tool: Self.tools.randomElement(using: &random)!,
                    outcome: outcome,
                    durationMs: Double(Int.random(in: 1...250_000, using: &random)) / 1000
                )
                let key = anonymous ? payload.tool : identity.userId
                events.append(
                    .toolCall(
                        EventEnvelope(
                            eventId: Self.uuid(&random),
                            occurredAt: at,
                            tenant: identity.tenant,
                            aggregateKey: key,
                            aggregateVersion: 1,
                            payload: payload
                        )
                    )
                )
            }
        }
        self.events = events
        self.tenants = tenants
    }

    private static func uuid(_ random: inout SeededGenerator) -> UUID {
        let a = random.next()
        let b = random.next()
        var bytes = withUnsafeBytes(of: a.bigEndian) { Array($0) } + withUnsafeBytes(of: b.bigEndian) { Array($0) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }

    /// The corpus as Kafka messages for the gateway and tools topics, keyed by aggregate key.
    public func messages(gatewayTopic: String, toolsTopic: String) throws -> [KafkaOutgoingMessage] {
        try events.map { event in
            KafkaOutgoingMessage(
                topic: event.isLogin ? gatewayTopic : toolsTopic,
                key: Array(event.header.aggregateKey.utf8),
                value: try event.encoded()
            )
        }
    }
}
