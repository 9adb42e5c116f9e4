import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// The user's access token at the tenant's upstream identity provider, for proxied tenants that
/// hand it to their MCP server: asked of the gateway, which owns the upstream tokens and
/// refreshes an expired one once across all its instances (`POST /internal/upstream-token`), and
/// kept here until shortly before it expires. Concurrent requests for one user share a single
/// question. The token is never logged.
final class UpstreamTokenClient: Sendable {
    enum Failure: Error, Equatable {
        /// The upstream no longer accepts the user's grant, or holds no tokens for them.
        case noGrant
        /// The gateway or the upstream is unreachable, or answered something else.
        case unavailable
    }

    struct Entry: Sendable {
        var token: UpstreamToken
        var validUntil: ContinuousClock.Instant
    }

    /// Tokens are used until this long before they expire; a token without an expiry for this long.
    static let margin: Duration = .seconds(30)
    static let unknownLifetime: Duration = .seconds(60)
    static let maximumEntries = 100_000

    let http: HTTPClient
    let gatewayURL: String
    let internalToken: OperatorToken
    private let entries = Mutex<[String: Entry]>([:])
    private let inFlight = Mutex<[String: Task<Entry, any Error>]>([:])

    init(http: HTTPClient, gatewayURL: String, internalToken: OperatorToken) {
        self.http = http
        self.gatewayURL = gatewayURL
        self.internalToken = internalToken
    }

    func accessToken(tenant: TenantID, userId: UserID) async throws -> UpstreamToken {
        let key = tenant.rawValue + "\n" + userId.rawValue
        if let entry = entries.withLock({ $0[key] }), entry.validUntil > .now { return entry.token }
        let task = inFlight.withLock { tasks in
            if let running = tasks[key] { return running }
            let task = Task { try await self.fetch(tenant: tenant, userId: userId) }
            tasks[key] = task
            return task
        }
        defer { inFlight.withLock { _ = $0.removeValue(forKey: key) } }
        let entry = try await task.value
        entries.withLock { entries in
            if entries.count >= Self.maximumEntries { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
        return entry.token
    }

    private func fetch(tenant: TenantID, userId: UserID) async throws -> Entry {
        let started = ContinuousClock.now
        let (status, json): (UInt, [String: Any])
        do {
            (status, json) = try await GatewayInternalRoute(url: gatewayURL, token: internalToken)
                .post("/internal/upstream-token", tenant: tenant.rawValue, userId: userId.rawValue, http: http)
        } catch {
            throw Failure.unavailable
        }
        switch status {
        case 200:
            guard let token = json["access_token"] as? String, !token.isEmpty else { throw Failure.unavailable }
            let lifetime = (json["expires_in"] as? Int).map { Duration.seconds($0) - Self.margin } ?? Self.unknownLifetime
            return Entry(token: UpstreamToken(token), validUntil: started + max(.zero, lifetime))
        case 404, 409:
            throw Failure.noGrant
        default:
            throw Failure.unavailable
        }
    }
}
