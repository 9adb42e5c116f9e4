import Hummingbird
import NIOCore

/// The context of a request to one tenant's endpoints: Gatehouse's context plus the tenant the
/// request is for and the public origin it was addressed to. `TenantMiddleware` finds them
/// before any handler runs, so a handler never resolves the host itself and never runs for an
/// unknown or disabled host (404) or while the directory is unavailable (503).
public struct TenantRequestContext<Tenant: Sendable>: ChildRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    fileprivate var resolved: (tenant: Tenant, origin: PublicOrigin, origins: OriginResolver)?

    public init(context: GatehouseRequestContext) {
        coreContext = .init(source: context)
        remoteAddress = context.remoteAddress
    }

    public var maxUploadSize: Int { 64 * 1024 }

    /// The tenant. Routes with this context are registered behind `TenantMiddleware` only
    /// (`tenantRoutes`), so it is always there.
    public var tenant: Tenant {
        guard let resolved else { preconditionFailure("a tenant route was registered without TenantMiddleware") }
        return resolved.tenant
    }

    /// The address of the client (the connected peer, or the one a trusted proxy forwarded),
    /// for limits per address; nil when it cannot be told. Read only by the endpoints that
    /// limit per address, so other requests do not parse forwarding headers.
    public func clientAddress(of request: Request) -> String? {
        resolved?.origins.clientAddress(of: request, remoteAddress: remoteAddress)
    }

    /// The origin the request was addressed to: the tenant's issuer.
    public var origin: PublicOrigin {
        guard let resolved else { preconditionFailure("a tenant route was registered without TenantMiddleware") }
        return resolved.origin
    }
}

/// Finds the tenant of every request that passes (see `HostResolver`).
public struct TenantMiddleware<Tenant: Sendable>: RouterMiddleware {
    public typealias Context = TenantRequestContext<Tenant>

    public let resolver: HostResolver<Tenant>

    public init(resolver: HostResolver<Tenant>) {
        self.resolver = resolver
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let (tenant, origin) = try await resolver.resolve(request, context)
        context.resolved = (tenant, origin, resolver.origins)
        return try await next(request, context)
    }
}

extension RouterMethods where Context == GatehouseRequestContext {
    /// A group of routes that each serve one tenant, found from the request's host.
    public func tenantRoutes<Tenant: Sendable>(_ resolver: HostResolver<Tenant>) -> RouterGroup<TenantRequestContext<Tenant>> {
        group(context: TenantRequestContext<Tenant>.self).add(middleware: TenantMiddleware(resolver: resolver))
    }
}
