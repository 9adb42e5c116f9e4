import Foundation
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

extension MCPEndpoint {
    /// A stateless-era (2026-07-28) message: no session (an `Mcp-Session-Id` sent anyway is
    /// ignored) and no `initialize`; the envelope and routing headers are checked first.
    func respondStateless(
        _ message: [String: Any],
        headers: HTTPFields,
        caller: Caller,
        tenant: ToolTenant,
        origin: PublicOrigin,
        logger: Logger
    ) async throws -> Response {
        let id = JSONRPCID(message["id"])
        if case .failure(let rejection) = StatelessEnvelope.check(message, headers: headers) {
            return StatelessExchange.rejection(rejection, id: id)
        }
        guard let method = message["method"] as? String, message["id"] != nil else {
            return Response(status: .accepted)
        }
        guard let id else {
            return Self.jsonRPCError(.badRequest, code: -32600, "Invalid Request: id must be a string or an integer")
        }
        let params = message["params"] as? [String: Any] ?? [:]
        switch method {
        case "server/discover":
            return stateless.discover(id: id, tenant: tenant)
        case "tools/list":
            return stateless.listTools(id: id, scopes: caller.principal?.scopes)
        case "tools/call":
            guard let name = params["name"] as? String else {
                return Self.jsonRPCError(.badRequest, code: -32602, "Invalid params: tools/call needs the tool's name", id: id)
            }
            return try await callTool(name, params: params, id: id, caller: caller, origin: origin, era: .stateless, logger: logger)
        default:
            return Self.jsonRPCError(.notFound, code: -32601, "Method not found: \(method.prefix(64))", id: id)
        }
    }

    /// What the server tells clients about itself (`initialize` and `server/discover`).
    static func instructions(for tenant: ToolTenant) -> String {
        "Tools of \(tenant.displayName): get_support files a support request under your verified email; "
            + "list_my_support_requests lists yours; whoami shows who you are signed in as."
    }
}
