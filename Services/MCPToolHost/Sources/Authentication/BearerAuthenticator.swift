import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// Authenticates every request to `/mcp` before its handler runs, and puts the caller on the
/// context: the bearer token of the `Authorization` header (never the query), validated for
/// this tenant and origin. No token: 401 `invalid_request`; a token that is not valid here:
/// 401 `invalid_token`, both with the RFC 9728 challenge; the token service unreachable: 503.
/// A tenant whose tools need no sign-in gets an anonymous caller.
struct BearerAuthenticator: RouterMiddleware {
    typealias Context = MCPRequestContext

    /// nil: authentication switched off (the benchmark's baseline only; never configured by
    /// the environment), every caller the same benchmark user.
    let validator: TokenValidator?
    /// Every scope a hosted tool needs: what a client should ask for (the challenge's `scope`).
    let hostedScopes: [String]

    init(validator: TokenValidator?, catalog: ToolCatalog) {
        self.validator = validator
        var scopes: [String] = []
        for scope in catalog.tools.flatMap(\.requiredScopes) where !scopes.contains(scope) { scopes.append(scope) }
        hostedScopes = scopes
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.authenticated = try await authenticate(request, tenant: context.tenant, origin: context.origin, logger: context.logger)
        return try await next(request, context)
    }

    private func authenticate(_ request: Request, tenant: ToolTenant, origin: PublicOrigin, logger: Logger) async throws -> Caller {
        if tenant.authMode == .none { return .anonymous(tenant: tenant.id) }
        guard let validator else {
            return .user(
                Principal(
                    tenant: tenant.id,
                    userId: "benchmark",
                    clientId: "benchmark",
                    email: nil,
                    emailVerified: false,
                    name: nil,
                    scopes: [SupportTools.toolsScope]
                )
            )
        }
        let challenge = Challenge(origin: origin, scope: tenant.mcp.mode == .proxy ? Self.proxiedScopes(tenant.mcp) : hostedScopes)
        guard let token = request.bearerToken.map(AccessToken.init) else {
            Self.failures.increment()
            throw APIError(
                .unauthorized,
                code: .invalidRequest,
                "This MCP server needs a bearer token in the Authorization header",
                headers: [.wwwAuthenticate: challenge.header(error: nil)]
            )
        }
        let verdict: TokenValidator.Verdict
        do {
            verdict = try await validator.validate(token, tenant: tenant, origin: origin)
        } catch {
            logger.error("Token validation unavailable", metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
        guard case .valid(let principal) = verdict else {
            Self.failures.increment()
            throw APIError(
                .unauthorized,
                code: .invalidToken,
                "The access token is not valid for this MCP server",
                headers: [.wwwAuthenticate: challenge.header(error: .invalidToken, description: "The access token is not valid for this MCP server")]
            )
        }
        return .user(principal)
    }

    /// What a client of a proxied server should ask for: the tools scope, the profile scopes
    /// that put the caller's email and name into the assertion, and every scope a tool rule names.
    static func proxiedScopes(_ settings: MCPEndpointSettings) -> [String] {
        var scopes = [SupportTools.toolsScope, "email", "profile"]
        for scope in settings.ruleScopes where !scopes.contains(scope) { scopes.append(scope) }
        return scopes
    }

    private static let failures = Counter(label: "gatehouse_mcp_auth_failures_total")
}
