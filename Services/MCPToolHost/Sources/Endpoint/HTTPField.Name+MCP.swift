import HTTPTypes

/// The MCP transport's own headers.
extension HTTPField.Name {
    static let mcpProtocolVersion = HTTPField.Name("MCP-Protocol-Version")!
    static let mcpSessionId = HTTPField.Name("Mcp-Session-Id")!
}
