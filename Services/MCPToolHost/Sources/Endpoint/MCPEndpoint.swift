import Foundation
import GatehouseEvents
import GatehouseMessaging
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging
import MCP
import Metrics
import NIOCore
import NIOFoundationCompat

/// `/mcp` of every tenant: MCP's Streamable HTTP transport, answered with single JSON
/// responses (no server-initiated messages, so no SSE stream: `GET` and `DELETE` are 405).
///
/// Every request is checked in this order, each failure with its own status and never 500:
/// the tenant from the host (404, `TenantMiddleware`), the browser `Origin` (403,
/// `BrowserOrigins`), the bearer token in the `Authorization` header, never the query (401 with
/// the RFC 9728 challenge, or 503 when the token service cannot answer: `BearerAuthenticator`);
/// then here the method, the body, then by the request's protocol era
/// (`ProtocolEra`): the session id (404 when it is not this user's) in the 2025 era, or the
/// stateless era's envelope and routing headers (400, `MCPEndpoint+Stateless.swift`); then the
/// JSON-RPC message. `tools/call` checks the tool's scopes (403 `insufficient_scope` naming all
/// of them) before any tool code runs.
package struct MCPEndpoint: Sendable {
    let sessions: MCPSessions
    /// Forwards the requests of tenants in `proxy` mode.
    let proxy: MCPProxy?
    let catalog: ToolCatalog
    /// The stateless era's own answers (discover, the caller's tool list).
    let stateless: StatelessExchange
    let store: ToolHostStore
    /// `gatehouse_tool_calls_total` by tool and outcome, made once (not per call).
    private let callCounters: [String: Counter]

    init(
        sessions: MCPSessions,
        proxy: MCPProxy? = nil,
        catalog: ToolCatalog,
        store: ToolHostStore,
    ) {
        self.sessions = sessions
        self.proxy = proxy
        self.catalog = catalog
        self.stateless = StatelessExchange(catalog: catalog)
        self.store = store
        var counters: [String: Counter] = [:]
        for tool in catalog.tools {
            for outcome in [ToolInvoked.Outcome.success, .error, .denied] {
                counters[tool.name + "|" + outcome.rawValue] = Counter(
                    label: "gatehouse_tool_calls_total",
                    dimensions: [("tool", tool.name), ("outcome", outcome.rawValue)]
                )
            }
        }
        callCounters = counters
    }

    /// Answers a request whose tenant, origin and caller are known (`MCPRequestContext`).
    package func handle(_ request: Request, _ context: MCPRequestContext) async throws -> Response {
        try await respond(request, tenant: context.tenant, origin: context.origin, caller: context.caller, logger: context.logger)
    }

    private func respond(_ request: Request, tenant: ToolTenant, origin: PublicOrigin, caller: Caller, logger: Logger) async throws -> Response {
        if tenant.mcp.mode == .proxy {
            guard let proxy, let principal = caller.principal else { throw APIError.temporarilyUnavailable }
            return try await proxy.handle(request, principal: principal, tenant: tenant, origin: origin, logger: logger)
        }
        guard request.method == .post else {
            // No server-initiated messages (GET) and nothing to terminate (DELETE): sessions live in their ids.
            return Self.jsonRPCError(
                .methodNotAllowed,
                code: -32000,
                "Method not allowed: this server answers POST only",
                headers: [.allow: "POST, OPTIONS"]
            )
        }
        if let accept = request.headers[.accept], !Self.acceptsJSON(accept) {
            return Self.jsonRPCError(.notAcceptable, code: -32600, "The Accept header must allow application/json")
        }
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
            return Self.jsonRPCError(.unsupportedMediaType, code: -32600, "The body must be application/json")
        }
        let body = try await request.body.collect(upTo: 64 * 1024)
        let data = Data(buffer: body)
        guard let parsed = try? JSONSerialization.jsonObject(with: data) else {
            return Self.jsonRPCError(.badRequest, code: -32700, "Parse error: the body is not JSON")
        }
        guard let message = parsed as? [String: Any] else {
            return Self.jsonRPCError(
                .badRequest,
                code: -32600,
                "Send one JSON-RPC message per request (batches are not part of this protocol revision)"
            )
        }
        guard message["jsonrpc"] as? String == "2.0" else {
            return Self.jsonRPCError(.badRequest, code: -32600, "Invalid Request: jsonrpc must be \"2.0\"")
        }
        if let method = message["method"], !(method is String) {
            return Self.jsonRPCError(.badRequest, code: -32600, "Invalid Request: method must be a string")
        }
        if ProtocolEra.of(versionHeader: request.headers[.mcpProtocolVersion], meta: ProtocolEra.meta(of: message)) == .stateless {
            return try await respondStateless(message, headers: request.headers, caller: caller, tenant: tenant, origin: origin, logger: logger)
        }
        let method = message["method"] as? String
        let isInitialize = method == "initialize"
        var sessionHeader: String?
        if let session = request.headers[.mcpSessionId], !isInitialize {
            guard sessions.accepts(session, for: caller) else {
                return Self.jsonRPCError(.notFound, code: -32001, "Session not found")
            }
            sessionHeader = session
        }
        guard let method, message["id"] != nil else {
            // Notifications and responses carry nothing a stateless server acts on.
            return Response(status: .accepted, headers: sessionHeader.map { [.mcpSessionId: $0] } ?? [:])
        }
        guard let id = JSONRPCID(message["id"]) else {
            return Self.jsonRPCError(.badRequest, code: -32600, "Invalid Request: id must be a string or an integer")
        }
        var response: Response
        if method == "tools/call", let params = message["params"] as? [String: Any], let name = params["name"] as? String {
            response = try await callTool(name, params: params, id: id, caller: caller, origin: origin, logger: logger)
        } else {
            response = try await exchange(data, tenant: tenant, logger: logger)
        }
        if isInitialize, response.status == .ok {
            sessionHeader = sessions.issue(for: caller)
        }
        if let sessionHeader { response.headers[.mcpSessionId] = sessionHeader }
        return response
    }

    // MARK: Tools

    func callTool(
        _ name: String,
        params: [String: Any],
        id: JSONRPCID,
        caller: Caller,
        origin: PublicOrigin,
        era: ProtocolEra = .handshake,
        logger: Logger
    ) async throws -> Response {
        guard let tool = catalog[name] else {
            return Self.jsonRPCError(.ok, code: -32602, "Unknown tool: \(name.prefix(64))", id: id)
        }
        let rawArguments = params["arguments"] ?? [String: Any]()
        guard let arguments = rawArguments as? [String: Any] else {
            return Self.jsonRPCError(.ok, code: -32602, "Invalid params: arguments must be an object", id: id)
        }
        let call = ToolCall(
            caller: caller,
            arguments: arguments.mapValues(JSONValueWriter.value(of:)),
            invocationId: UUID(),
            started: .now
        )
        if let principal = caller.principal {
            let missing = tool.requiredScopes.filter { !principal.scopes.contains($0) }
            if !missing.isEmpty {
                try await record(call.invocationRecord(tool: name, outcome: .denied), logger: logger)
                callCounters[name + "|denied"]?.increment()
                let description = "The \(name) tool needs the scopes \(tool.requiredScopes.joined(separator: " "))"
                throw APIError(
                    .forbidden,
                    code: .insufficientScope,
                    description,
                    headers: [
                        .wwwAuthenticate: Challenge(origin: origin, scope: tool.requiredScopes).header(
                            error: .insufficientScope,
                            description: description
                        )
                    ]
                )
            }
        }
        // Every call that ran is recorded here: alone, or committed with the tool's change.
        let result: ToolResult
        do {
            switch try await tool.run(call) {
            case .answer(let answer):
                try await store.record(call.invocationRecord(tool: name, outcome: answer.outcome))
                result = answer
            case .change(let commit):
                result = try await commit(call.invocationRecord(tool: name, outcome: .success))
            }
        } catch {
            logger.error("Tool call could not be completed or recorded", metadata: ["tool": "\(name)", "error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
        callCounters[name + "|" + result.outcome.rawValue]?.increment()
        var text = #"{"jsonrpc":"2.0","id":"#
        JSONValueWriter.write(id: id, to: &text)
        text += #","result":{"content":[{"type":"text","text":"#
        JSONObjectWriter.appendQuoted(result.text, to: &text)
        text += "}]"
        if let structured = result.structured {
            text += #","structuredContent":"#
            JSONValueWriter.write(structured, to: &text)
        }
        text += #","isError":"# + (result.isError ? "true" : "false")
        if era == .stateless { text += #","resultType":"complete""# }
        text += "}}"
        return Self.json(text)
    }

    /// Writes a call's `tool.invoked`; a call whose event cannot be kept is answered 503.
    private func record(_ invocation: OutboxRecord, logger: Logger) async throws {
        do {
            try await store.record(invocation)
        } catch {
            logger.error("Could not record tool.invoked", metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
    }

    private func exchange(_ data: Data, tenant: ToolTenant, logger: Logger) async throws -> Response {
        let sdk = SDKExchange(
            name: "gatehouse-tool-host",
            version: "1.0.0",
            title: tenant.displayName,
            instructions: Self.instructions(for: tenant),
            catalog: catalog,
            logger: logger
        )
        guard let reply = try await sdk.respond(to: data) else {
            logger.error("The MCP server gave no response in time")
            throw APIError.temporarilyUnavailable
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(data: reply))
        )
    }

    // MARK: Origins

    /// A browser's `Origin` must be the tenant's own or a configured one (DNS rebinding and
    /// cross-site calls); requests without one (non-browser clients) pass. Returns the origin
    /// to allow in CORS headers.
    // MARK: Responses

    private static func acceptsJSON(_ accept: String) -> Bool {
        accept.split(separator: ",").contains { item in
            let type = item.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            return type == "application/json" || type == "application/*" || type == "*/*"
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A JSON-RPC error object (id null unless known) with an HTTP status.
    static func jsonRPCError(
        _ status: HTTPResponse.Status,
        code: Int,
        _ message: String,
        id: JSONRPCID? = nil,
        data: String? = nil,
        headers: HTTPFields = [:]
    ) -> Response {
        var text = #"{"jsonrpc":"2.0","id":"#
        if let id { JSONValueWriter.write(id: id, to: &text) } else { text += "null" }
        text += #","error":{"code":"# + String(code) + #","message":"#
        JSONObjectWriter.appendQuoted(message, to: &text)
        if let data { text += #","data":"# + data }
        text += "}}"
        return json(text, status: status, headers: headers)
    }
}
