import Foundation
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import MCP

/// The hosted tools' answers in the stateless era (MCP 2026-07-28), written here because the
/// MCP Swift SDK does not speak that revision: `server/discover`, and `tools/list` with only
/// the tools the caller's scopes can call. (`tools/call` goes through the endpoint's tool
/// path, which checks scopes and records every call, in both eras.) Every result carries
/// `resultType`; list and discover results say how long a client may cache them.
struct StatelessExchange: Sendable {
    /// The caller's own tool list: private to them, and fresh for a minute.
    static let toolListTTLMilliseconds = 60_000
    /// The server's description is the same for every caller of a tenant.
    static let discoverTTLMilliseconds = 300_000

    private let tools: [(requiredScopes: [String], json: String)]

    init(catalog: ToolCatalog) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        tools = catalog.tools.map { tool in
            let json = (try? encoder.encode(tool.declaration)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return (tool.requiredScopes, json)
        }
    }

    /// `server/discover`: the versions, capabilities and identity of this server.
    func discover(id: JSONRPCID, tenant: ToolTenant) -> Response {
        var text = #"{"jsonrpc":"2.0","id":"#
        JSONValueWriter.write(id: id, to: &text)
        text += #","result":{"supportedVersions":"#
        JSONValueWriter.write(.array(ProtocolEra.allVersions.map { .string($0) }), to: &text)
        text += #","capabilities":{"tools":{"listChanged":false}},"instructions":"#
        JSONObjectWriter.appendQuoted(MCPEndpoint.instructions(for: tenant), to: &text)
        text += #","resultType":"complete","ttlMs":\#(Self.discoverTTLMilliseconds),"cacheScope":"public","_meta":{"#
        text += "\"" + StatelessEnvelope.serverInfoKey + #"":{"name":"gatehouse-tool-host","title":"#
        JSONObjectWriter.appendQuoted(tenant.displayName, to: &text)
        text += #","version":"1.0.0"}}}}"#
        return MCPEndpoint.json(text)
    }

    /// `tools/list`: the tools `scopes` can call, and no other (a hidden tool is refused with
    /// 403 if called anyway); the list is the caller's own, so `cacheScope` is `private`.
    func listTools(id: JSONRPCID, scopes: Set<String>?) -> Response {
        var text = #"{"jsonrpc":"2.0","id":"#
        JSONValueWriter.write(id: id, to: &text)
        text += #","result":{"tools":["#
        let visible = tools.filter { tool in scopes.map { tool.requiredScopes.allSatisfy($0.contains) } ?? true }
        text += visible.map(\.json).joined(separator: ",")
        text += #"],"resultType":"complete","ttlMs":\#(Self.toolListTTLMilliseconds),"cacheScope":"private"}}"#
        return MCPEndpoint.json(text)
    }

    /// A refusal of the stateless checks: 400 with the JSON-RPC error (and, for an unsupported
    /// version, the versions this server speaks).
    static func rejection(_ rejection: StatelessRejection, id: JSONRPCID?) -> Response {
        var data: String?
        if let supported = rejection.supported {
            var members: [String: Value] = ["supported": .array(supported.map { .string($0) })]
            if let requested = rejection.requested { members["requested"] = .string(requested) }
            var text = ""
            JSONValueWriter.write(.object(members), to: &text)
            data = text
        }
        return MCPEndpoint.jsonRPCError(.badRequest, code: rejection.code, rejection.message, id: id, data: data)
    }
}
