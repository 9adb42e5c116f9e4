import GatehouseEvents
import GatehouseRuntime
import Hummingbird
import Logging
import NIOCore

/// A request to a tenant's `/mcp`: its tenant and origin (`TenantMiddleware`) and, behind
/// `BearerAuthenticator`, its caller.
package struct MCPRequestContext: ChildRequestContext, RemoteAddressRequestContext {
    package typealias ParentContext = TenantRequestContext<ToolTenant>

    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?
    package let tenant: ToolTenant
    package let origin: PublicOrigin
    var authenticated: Caller?

    package init(context: ParentContext) {
        coreContext = .init(source: context)
        remoteAddress = context.remoteAddress
        tenant = context.tenant
        origin = context.origin
        logger[metadataKey: "tenant"] = .string(context.tenant.id.rawValue)
    }

    package var maxUploadSize: Int { 64 * 1024 }

    /// Who is calling. `/mcp` is registered behind `BearerAuthenticator` only, so it is always
    /// there.
    var caller: Caller {
        guard let authenticated else { preconditionFailure("/mcp was registered without BearerAuthenticator") }
        return authenticated
    }
}
