import GatehouseRuntime

/// The gateway's host directory: enabled tenants from its own tables.
package typealias TenantDirectory = HostDirectory<TenantRecord>
/// Resolves a request's tenant from the gateway's directory.
package typealias TenantResolver = HostResolver<TenantRecord>

extension HostDirectory where Record == TenantRecord {
    package init(store: TenantStore, maximumAge: Duration = .seconds(1)) {
        self.init(maximumAge: maximumAge) { try await store.changes(since: $0) }
    }
}
