import Foundation
import Logging

/// Host name → tenant, from the gateway's tables, refreshed at most `maximumAge` after a change:
/// admin changes take effect without a restart. Disabled tenants are not found, exactly like
/// unknown hosts (DESIGN.md invariant 7: never a default tenant).
public actor TenantDirectory {
    private let store: TenantStore
    private let maximumAge: Duration
    private var byHost: [String: TenantRecord] = [:]
    private var loadedAt: ContinuousClock.Instant?
    private var loading: Task<[String: TenantRecord], any Error>?

    public init(store: TenantStore, maximumAge: Duration = .seconds(1)) {
        self.store = store
        self.maximumAge = maximumAge
    }

    public func tenant(forHost host: String) async throws -> TenantRecord? {
        try await current()[host.lowercased()].flatMap { $0.tenant.disabled ? nil : $0 }
    }

    /// Forgets the cache (the admin API calls it after a change in this process).
    public func invalidate() {
        loadedAt = nil
    }

    private func current() async throws -> [String: TenantRecord] {
        if let loadedAt, ContinuousClock.now - loadedAt < maximumAge { return byHost }
        if let loading { return try await loading.value }
        let task = Task { [store] in
            var map: [String: TenantRecord] = [:]
            for record in try await store.records() {
                for host in record.tenant.hosts { map[host] = record }
            }
            return map
        }
        loading = task
        defer { loading = nil }
        let map = try await task.value
        byHost = map
        loadedAt = .now
        return map
    }
}
