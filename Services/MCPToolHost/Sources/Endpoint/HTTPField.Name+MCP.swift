import HTTPTypes

/// The MCP transport's own headers.
extension HTTPField.Name {
    static let mcpProtocolVersion = HTTPField.Name("MCP-Protocol-Version")!
    static let mcpSessionId = HTTPField.Name("Mcp-Session-Id")!
    /// Stateless era: the JSON-RPC method of the request, and the tool, prompt or resource it names.
    static let mcpMethod = HTTPField.Name("Mcp-Method")!
    static let mcpName = HTTPField.Name("Mcp-Name")!
}
