import GatehouseRuntime
import HTTPTypes
import Hummingbird

/// The browser side of `/mcp`: a request with an `Origin` other than the tenant's own or one
/// allowed by configuration is refused (403, MCP's defence against DNS rebinding); a CORS
/// preflight is answered here, before authentication; and every answer to an allowed origin,
/// errors included, carries the CORS headers a browser needs to read it.
struct BrowserOrigins: RouterMiddleware {
    typealias Context = MCPRequestContext

    let allowed: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        var browserOrigin: String?
        do {
            browserOrigin = try check(request, origin: context.origin)
            response = request.method == .options ? Self.preflight() : try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        }
        if let browserOrigin {
            response.headers[.accessControlAllowOrigin] = browserOrigin
            response.headers[.accessControlExposeHeaders] = "Mcp-Session-Id, WWW-Authenticate"
            response.headers[.vary] = "Origin"
        }
        return response
    }

    /// The request's `Origin` when it may read the answer; nil without one.
    private func check(_ request: Request, origin: PublicOrigin) throws -> String? {
        guard let presented = request.headers[.origin] else { return nil }
        let normalised = presented.lowercased()
        guard normalised == origin.description || allowed.contains(normalised) else {
            throw APIError(.forbidden, code: .forbiddenOrigin, "Requests from this Origin are not allowed")
        }
        return presented
    }

    private static func preflight() -> Response {
        Response(
            status: .noContent,
            headers: [
                .accessControlAllowMethods: "POST, GET, DELETE, OPTIONS",
                .accessControlAllowHeaders: "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID",
                .accessControlMaxAge: "3600",
            ]
        )
    }
}
