import GatehouseRuntime

/// A request to one tenant's token endpoints, with the tenant found from its host.
typealias TokenRequestContext = TenantRequestContext<TokenTenant>
