import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import Logging
import Synchronization

/// Decides whether a bearer token may call this tenant's MCP resource, from the token service's
/// introspection, with a short cache that revocations empty.
///
/// A cached answer is reused only while it is young (`revocationBound`) or while the
/// revocation feed vouches that it has applied every `token.revoked` published up to
/// `revocationBound` ago, so a revoked token stops working within that bound on every
/// instance, also when the broker is down (then answers just age out quickly). Concurrent
/// lookups of one token share one introspection.
package final class TokenValidator: Sendable {
    package enum Verdict: Sendable, Equatable {
        case valid(Principal)
        /// Not active, not for this tenant's MCP resource, or expired.
        case invalid
    }

    struct Lookup: Sendable {
        var token: AccessToken
        var tenant: ToolTenant
        var origin: PublicOrigin
    }

    private struct Entry {
        var verdict: Verdict
        var grantId: GrantID?
        var checkedAt: ContinuousClock.Instant
        var usableUntil: ContinuousClock.Instant
    }

    private struct Revocation {
        var at: ContinuousClock.Instant
        var tokenHashes: Set<String>
        var grantId: GrantID
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Revocations of the last few seconds: a lookup that started before one of them
        /// must not cache what it learned.
        var recentRevocations: [Revocation] = []
        /// When the revocation feed last proved it had applied everything published until then.
        var feedCurrentAsOf: ContinuousClock.Instant?
    }

    private let cache: ToolHostConfiguration.Cache
    private let client: IntrospectionClient
    private let state = Mutex(State())
    private let lookups: Batcher<Lookup, Verdict>
    private let clock = ContinuousClock()

    package init(client: IntrospectionClient, cache: ToolHostConfiguration.Cache) {
        self.client = client
        self.cache = cache
        let deadline = client.configuration.deadline + .seconds(1)
        lookups = Batcher(duplicates: .share, maximumBatch: 64, pipeline: 8, deadline: deadline) { [client] batch in
            try await withThrowingTaskGroup(of: (String, Verdict).self) { group in
                for lookup in batch {
                    group.addTask {
                        let answer = try await client.introspect(lookup.token, tenant: lookup.tenant.id, host: lookup.origin.host)
                        return (Self.key(lookup), Self.verdict(answer, origin: lookup.origin))
                    }
                }
                var verdicts: [String: Verdict] = [:]
                for try await (key, verdict) in group { verdicts[key] = verdict }
                return verdicts
            }
        }
    }

    /// The verdict on `token` at this tenant. Throws `IntrospectionUnavailable` (or
    /// `DeadlineExceeded`) when the token service cannot answer.
    package func validate(_ token: AccessToken, tenant: ToolTenant, origin: PublicOrigin) async throws -> Verdict {
        let lookup = Lookup(token: token, tenant: tenant, origin: origin)
        let key = Self.key(lookup)
        let now = clock.now
        if let cached = state.withLock({ usable(key: key, in: &$0, at: now) }) { return cached }
        do {
            guard let verdict = try await lookups.submit(lookup, key: key) else { return .invalid }
            remember(verdict, key: key, startedAt: now)
            return verdict
        } catch let error as IntrospectionUnavailable {
            throw error
        } catch {
            throw IntrospectionUnavailable(description: "introspection failed: \(error)")
        }
    }

    /// Applies a revocation: tokens named, and every token of the grant, stop validating here.
    package func revoke(tokenHashes: [String], grantId: GrantID) {
        let now = clock.now
        state.withLock { state in
            let hashes = Set(tokenHashes)
            state.entries = state.entries.filter { key, entry in
                !(hashes.contains(String(key.prefix(64))) || entry.grantId == grantId)
            }
            state.recentRevocations.removeAll { now - $0.at > .seconds(30) }
            state.recentRevocations.append(Revocation(at: now, tokenHashes: hashes, grantId: grantId))
        }
    }

    /// The feed has applied everything published before `instant`.
    package func feedIsCurrent(asOf instant: ContinuousClock.Instant) {
        state.withLock { state in
            if state.feedCurrentAsOf.map({ $0 < instant }) ?? true { state.feedCurrentAsOf = instant }
        }
    }

    /// Whether the revocation feed has vouched for the last `revocationBound` (readiness, tests).
    package var revocationFeedIsCurrent: Bool {
        let now = clock.now
        return state.withLock { $0.feedCurrentAsOf.map { now - $0 < cache.revocationBound } ?? false }
    }

    /// Number of cached answers (for tests and metrics).
    package var cachedCount: Int { state.withLock { $0.entries.count } }

    // MARK: Cache rules

    private func usable(key: String, in state: inout State, at now: ContinuousClock.Instant) -> Verdict? {
        guard let entry = state.entries[key] else { return nil }
        guard now < entry.usableUntil else {
            state.entries[key] = nil
            return nil
        }
        let young = now - entry.checkedAt < cache.revocationBound
        let vouched = state.feedCurrentAsOf.map { now - $0 < cache.revocationBound } ?? false
        return young || vouched ? entry.verdict : nil
    }

    private func remember(_ verdict: Verdict, key: String, startedAt: ContinuousClock.Instant) {
        var lifetime: Duration
        var grantId: GrantID?
        switch verdict {
        case .valid(let principal):
            lifetime = cache.activeFor
            grantId = principal.grantId
            if let expiresAt = principal.expiresAt {
                lifetime = min(lifetime, .milliseconds(Int64(max(0, expiresAt.timeIntervalSinceNow) * 1000)))
            }
        case .invalid:
            lifetime = cache.inactiveFor
        }
        guard lifetime > .zero else { return }
        let hash = String(key.prefix(64))
        state.withLock { state in
            // A revocation applied while this lookup ran may postdate the answer: do not keep it.
            if state.recentRevocations.contains(where: { $0.at >= startedAt && ($0.tokenHashes.contains(hash) || $0.grantId == grantId) }) {
                return
            }
            if state.entries.count >= cache.maximumEntries {
                let now = clock.now
                state.entries = state.entries.filter { now < $0.value.usableUntil }
                if state.entries.count >= cache.maximumEntries { state.entries.removeAll() }
            }
            state.entries[key] = Entry(verdict: verdict, grantId: grantId, checkedAt: startedAt, usableUntil: startedAt + lifetime)
        }
    }

    /// The token's SHA-256 (as `token.revoked` names it) and the host it was presented at.
    private static func key(_ lookup: Lookup) -> String {
        lookup.token.hash + "@" + lookup.origin.host
    }

    /// An introspection answer judged for this tenant's resource: the audience must be its
    /// MCP resource and the issuer its issuer; an expired token is invalid.
    static func verdict(_ answer: IntrospectedToken?, origin: PublicOrigin) -> Verdict {
        guard let answer, answer.audience == origin.mcpResource, answer.issuer == origin.issuer, answer.expiresAt > Date() else {
            return .invalid
        }
        var principal = answer.principal
        principal.grantId = answer.grantId
        principal.expiresAt = answer.expiresAt
        return .valid(principal)
    }
}
