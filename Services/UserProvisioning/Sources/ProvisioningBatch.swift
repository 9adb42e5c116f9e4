import Foundation
import GatehouseEvents
import GatehouseMessaging

/// A batch of provisioning events folded into the rows it changes, with the same effect as
/// applying the events one by one (pure: no I/O, tested on its own).
///
/// Per user: the profile of the event with the highest `(version, event id)`, the earliest and
/// latest login and the number of logins; per user and email: the first and last time and
/// version it was seen; per user (or anonymous tenant) and tool: counters and call times.
struct ProvisioningBatch: Sendable, Equatable {
    struct Login: Sendable, Equatable {
        var userId: String
        var tenant: String
        var upstreamIssuer: String
        var upstreamSubject: String
        var email: String?
        var emailVerified: Bool
        var name: String?
        var emailLinking: EmailLinkingPolicy
        var version: Int64
        var sourceEventId: UUID
        /// When the winning event occurred: the `occurred_at` of the `user.upserted` it announces.
        var occurredAt: Date
        var firstSeenAt: Date
        var lastLoginAt: Date
        var logins: Int64

        /// Whether `other`'s profile wins over this one's: the higher version, ties broken by
        /// event id, so the outcome never depends on arrival order.
        func isOlder(than version: Int64, _ eventId: UUID) -> Bool {
            if self.version != version { return self.version < version }
            // Byte order is the order of the ids' hex text, which is how SQL breaks the tie.
            return withUnsafeBytes(of: sourceEventId.uuid) { mine in
                withUnsafeBytes(of: eventId.uuid) { theirs in mine.lexicographicallyPrecedes(theirs) }
            }
        }
    }

    struct EmailSighting: Sendable, Equatable {
        var userId: String
        var email: String
        var firstVersion: Int64
        var lastVersion: Int64
        var firstSeenAt: Date
        var lastSeenAt: Date
    }

    struct Usage: Sendable, Equatable {
        /// nil for anonymous calls of a public tool, and for a service principal's calls.
        var userId: String?
        /// A service principal's calls (client credentials; no user): its client id.
        var servicePrincipal: String? = nil
        var tenant: String
        var tool: String
        var calls: Int64 = 0
        var successes: Int64 = 0
        var errors: Int64 = 0
        var denials: Int64 = 0
        var durationMicroseconds: Int64 = 0
        var firstCalledAt: Date
        var lastCalledAt: Date
    }

    struct UsageKey: Hashable {
        var tenant: String
        var userId: String?
        var servicePrincipal: String?
        var tool: String
    }

    struct EmailKey: Hashable {
        var userId: String
        var email: String
    }

    private(set) var logins: [String: Login] = [:]
    private(set) var emails: [EmailKey: EmailSighting] = [:]
    private(set) var usage: [UsageKey: Usage] = [:]

    static let maximumToolNameLength = 128

    init() {}

    mutating func add(_ event: EventEnvelope<UpstreamTokenStored>) throws {
        let payload = event.payload
        let header = event.header
        guard !header.tenant.isEmpty else { throw DeterministicEventError("upstream-token.stored without a tenant") }
        guard !payload.upstreamIssuer.isEmpty, !payload.upstreamSubject.isEmpty else {
            throw DeterministicEventError("upstream-token.stored without an upstream issuer or subject")
        }
        let expected = UserID.derive(tenant: header.tenant, issuer: payload.upstreamIssuer, subject: payload.upstreamSubject)
        guard payload.userId == expected, header.aggregateKey == expected else {
            throw DeterministicEventError("upstream-token.stored user id or key does not match its identity")
        }
        guard header.aggregateVersion > 0 else { throw DeterministicEventError("upstream-token.stored with version \(header.aggregateVersion)") }
        // An empty attribute is an absent one.
        let email = payload.email.flatMap { $0.isEmpty ? nil : $0 }
        let name = payload.name.flatMap { $0.isEmpty ? nil : $0 }

        let incoming = Login(
            userId: expected,
            tenant: header.tenant,
            upstreamIssuer: payload.upstreamIssuer,
            upstreamSubject: payload.upstreamSubject,
            email: email,
            emailVerified: payload.emailVerified && email != nil,
            name: name,
            emailLinking: payload.emailLinking ?? .none,
            version: header.aggregateVersion,
            sourceEventId: header.eventId,
            occurredAt: header.occurredAt,
            firstSeenAt: header.occurredAt,
            lastLoginAt: header.occurredAt,
            logins: 1
        )
        if var current = logins[expected] {
            if current.isOlder(than: incoming.version, incoming.sourceEventId) {
                let merged = (current.firstSeenAt, current.lastLoginAt, current.logins)
                current = incoming
                (current.firstSeenAt, current.lastLoginAt, current.logins) = merged
            }
            current.firstSeenAt = min(current.firstSeenAt, header.occurredAt)
            current.lastLoginAt = max(current.lastLoginAt, header.occurredAt)
            current.logins += 1
            logins[expected] = current
        } else {
            logins[expected] = incoming
        }

        if let email {
            let key = EmailKey(userId: expected, email: email)
            var sighting =
                emails[key]
                ?? EmailSighting(
                    userId: expected,
                    email: email,
                    firstVersion: header.aggregateVersion,
                    lastVersion: header.aggregateVersion,
                    firstSeenAt: header.occurredAt,
                    lastSeenAt: header.occurredAt
                )
            sighting.firstVersion = min(sighting.firstVersion, header.aggregateVersion)
            sighting.lastVersion = max(sighting.lastVersion, header.aggregateVersion)
            sighting.firstSeenAt = min(sighting.firstSeenAt, header.occurredAt)
            sighting.lastSeenAt = max(sighting.lastSeenAt, header.occurredAt)
            emails[key] = sighting
        }
    }

    mutating func add(_ event: EventEnvelope<ToolInvoked>) throws {
        let payload = event.payload
        let header = event.header
        guard !header.tenant.isEmpty else { throw DeterministicEventError("tool.invoked without a tenant") }
        guard !payload.tool.isEmpty, payload.tool.utf8.count <= Self.maximumToolNameLength else {
            throw DeterministicEventError("tool.invoked with an empty or over-long tool name")
        }
        if let userId = payload.userId {
            guard UserID.isWellFormed(userId) else { throw DeterministicEventError("tool.invoked with a malformed user id") }
        } else if let clientId = payload.clientId {
            // A token without a user is a service principal's (client credentials).
            guard !clientId.isEmpty, clientId.utf8.count <= 2048 else { throw DeterministicEventError("tool.invoked with a malformed client id") }
        }
        guard payload.durationMs.isFinite, payload.durationMs >= 0, payload.durationMs < 86_400_000 else {
            throw DeterministicEventError("tool.invoked with an impossible duration")
        }
        let servicePrincipal = payload.userId == nil ? payload.clientId : nil
        let key = UsageKey(tenant: header.tenant, userId: payload.userId, servicePrincipal: servicePrincipal, tool: payload.tool)
        var entry =
            usage[key]
            ?? Usage(
                userId: payload.userId,
                servicePrincipal: servicePrincipal,
                tenant: header.tenant,
                tool: payload.tool,
                firstCalledAt: header.occurredAt,
                lastCalledAt: header.occurredAt
            )
        entry.calls += 1
        switch payload.outcome {
        case .success: entry.successes += 1
        // A proxied call that failed counts as an error, whichever way it failed.
        case .error, .jsonrpcError, .upstreamFailure: entry.errors += 1
        case .denied: entry.denials += 1
        }
        entry.durationMicroseconds += Int64((payload.durationMs * 1000).rounded())
        entry.firstCalledAt = min(entry.firstCalledAt, header.occurredAt)
        entry.lastCalledAt = max(entry.lastCalledAt, header.occurredAt)
        usage[key] = entry
    }

    var userUsage: [Usage] { usage.values.filter { $0.userId != nil } }
    var serviceUsage: [Usage] { usage.values.filter { $0.servicePrincipal != nil } }
    var publicUsage: [Usage] { usage.values.filter { $0.userId == nil && $0.servicePrincipal == nil } }
}
