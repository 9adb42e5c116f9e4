import GatehouseRuntime

/// A request to one tenant's authorization server, with the tenant found from its host.
package typealias GatewayRequestContext = TenantRequestContext<TenantRecord>
