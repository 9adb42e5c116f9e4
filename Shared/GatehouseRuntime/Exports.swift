/// Services import `GatehouseRuntime` and get the HTTP building blocks with it.
@_exported import GatehouseHTTP
