/// What a tenant's `/mcp` serves: the tool host's built-in tools (`hosted`), or the tenant's own
/// MCP server (`proxy`), which receives every request already authenticated, with the caller in
/// a signed identity assertion instead of the client's token. Set by the operator on the
/// tenant, carried by `tenant.updated`, applied by the tool host (`docs/proxy.md`).
public struct MCPEndpointSettings: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case hosted
        case proxy
    }

    public static let timeoutRange = 1...300
    public static let defaultAssertionHeader = "Authorization"

    public var mode: Mode
    /// `proxy`: the upstream MCP server's Streamable HTTP endpoint.
    public var upstreamUrl: String?
    /// `proxy`: whether `http://` is allowed for an upstream on a loopback or private address.
    public var allowHttp: Bool
    /// `proxy`: how long the upstream has to answer with its status and headers (then 504);
    /// a streamed answer may then go on as long as the client listens.
    public var timeoutSeconds: Int
    /// `proxy`: the request header carrying the assertion. `Authorization` sends
    /// `Bearer <assertion>`; any other header carries the bare assertion.
    public var assertionHeader: String
    /// `proxy`: scopes a `tools/call` needs, by tool name or prefix, checked before the
    /// upstream sees the call.
    public var toolScopes: [ToolScopeRule]
    /// `proxy`: whether `tools/list` leaves out the tools the caller's scopes cannot call.
    public var hideUnauthorizedTools: Bool
    /// `proxy`: the request header that carries the user's access token at the tenant's upstream
    /// identity provider (nil: none is sent), so the server can call that provider's API for them.
    public var upstreamTokenHeader: String?

    public init(
        mode: Mode = .hosted,
        upstreamUrl: String? = nil,
        allowHttp: Bool = false,
        timeoutSeconds: Int = 30,
        assertionHeader: String = MCPEndpointSettings.defaultAssertionHeader,
        toolScopes: [ToolScopeRule] = [],
        hideUnauthorizedTools: Bool = false,
        upstreamTokenHeader: String? = nil
    ) {
        self.mode = mode
        self.upstreamUrl = upstreamUrl
        self.allowHttp = allowHttp
        self.timeoutSeconds = timeoutSeconds
        self.assertionHeader = assertionHeader
        self.toolScopes = toolScopes
        self.hideUnauthorizedTools = hideUnauthorizedTools
        self.upstreamTokenHeader = upstreamTokenHeader
    }

    /// Absent fields take their defaults, so a document may name only what it changes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            mode: try container.decodeIfPresent(Mode.self, forKey: .mode) ?? .hosted,
            upstreamUrl: try container.decodeIfPresent(String.self, forKey: .upstreamUrl),
            allowHttp: try container.decodeIfPresent(Bool.self, forKey: .allowHttp) ?? false,
            timeoutSeconds: try container.decodeIfPresent(Int.self, forKey: .timeoutSeconds) ?? 30,
            assertionHeader: try container.decodeIfPresent(String.self, forKey: .assertionHeader) ?? Self.defaultAssertionHeader,
            toolScopes: try container.decodeIfPresent([ToolScopeRule].self, forKey: .toolScopes) ?? [],
            hideUnauthorizedTools: try container.decodeIfPresent(Bool.self, forKey: .hideUnauthorizedTools) ?? false,
            upstreamTokenHeader: try container.decodeIfPresent(String.self, forKey: .upstreamTokenHeader)
        )
    }

    /// Every scope some rule names, each once: what a client should ask for to use the server.
    public var ruleScopes: [String] {
        var scopes: [String] = []
        for scope in toolScopes.flatMap(\.scopes) where !scopes.contains(scope) { scopes.append(scope) }
        return scopes
    }

    /// Every scope the rules require of `tool` (in rule order, each once); empty when none applies.
    public func requiredScopes(forTool tool: String) -> [String] {
        var scopes: [String] = []
        for rule in toolScopes where rule.matches(tool) {
            for scope in rule.scopes where !scopes.contains(scope) { scopes.append(scope) }
        }
        return scopes
    }
}
